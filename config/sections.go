package config

// section is one package-owned part of the file, validated by its owner.
type section struct {
	name     string
	validate func() error
}

// sections lists the package-owned sections; their Validate errors name
// fields relative to the section, so the section key is prefixed.
func (c *Config) sections() []section {
	return []section{
		{"extauthz", c.ExtAuthz.Validate},
		{"policy", c.Policy.Validate},
		{"session", c.Session.Validate},
		{"challenge", c.Challenge.Validate},
		{"heuristics", c.Heuristics.Validate},
		{"verified", c.Verified.Validate},
		{"network", c.Network.Validate},
		{"ml", c.ML.Validate},
		{"reputation.store", c.Reputation.Store.Validate},
		{"reputation.lookup", c.Reputation.Lookup.Validate},
		{"accesslog", c.AccessLog.Validate},
		{"behavior", c.Behavior.Validate},
	}
}
