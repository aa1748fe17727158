package stripeemu

// SessionStatus is a stored session's status (open, complete or expired),
// and whether the session exists.
func (e *Emulator) SessionStatus(sessionID string) (string, bool) {
	s, ok := e.session(sessionID)
	if !ok {
		return "", false
	}
	return s.status, true
}
