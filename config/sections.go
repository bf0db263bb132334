package config

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
	}
}
