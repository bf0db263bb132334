package config

import "errors"

// section is one package-owned part of the file, validated by its owner.
type section struct {
	name     string
	validate func() error
}

// sections lists the package-owned sections other than the engines' (the
// engine table validates those); their Validate errors name fields relative
// to the section, so the section key is prefixed.
func (c *Config) sections() []section {
	return []section{
		{"extauthz", c.ExtAuthz.Validate},
		{"policy", c.Policy.Validate},
		{"challenge", c.Challenge.Validate},
		{"accesslog", c.AccessLog.Validate},
		{"behavior", c.Behavior.Validate},
		{"analytics", c.Analytics.Validate},
		{"admin", c.Admin.Validate},
		{"cluster", c.Cluster.Validate},
		{"cluster", c.sharedSecrets},
	}
}

// sharedSecrets: replicas must sign and open each other's cookies and
// tickets, so a cluster needs the keys in the configuration (a random key
// per process would make every cookie fail on the next replica).
func (c *Config) sharedSecrets() error {
	if !c.Cluster.Enabled() {
		return nil
	}
	var errs []error
	if len(c.Session.Keys) == 0 {
		errs = append(errs, errors.New("session.keys must be set when redis_addr or nats_url is: every replica must open the same session cookies"))
	}
	if len(c.Challenge.Secrets) == 0 {
		errs = append(errs, errors.New("challenge.secrets must be set when redis_addr or nats_url is: every replica must verify the same tickets"))
	}
	return errors.Join(errs...)
}
