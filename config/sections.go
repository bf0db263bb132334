package config

// section is one package-owned part of the file, validated by its owner.
type section struct {
	name     string
	validate func() error
}

// sections lists the package-owned sections for validation.
func (c *Config) sections() []section {
	return nil
}
