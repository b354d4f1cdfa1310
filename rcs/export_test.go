package rcs

// HelloListener is the server's hello listener, for its counters.
func (s *Server) HelloListener() *HelloListener { return s.hello }

// FlushDenials writes the refusal counts of the period now.
func (s *Server) FlushDenials() { s.denials.flush() }

// MetricNames are the names of the metrics the server exports.
func (s *Server) MetricNames() []string { return s.metrics.names() }
