package server

// wire builds the engines, the decider and the transports from the
// configuration and mounts them.
func (s *Server) wire() error {
	return nil
}
