package dashboard

// SealCursor lets a benchmark start deep in a list, as a "more" link would.
func (d *Dashboard) SealCursor(account, endpointID, position string) string {
	return d.sealCursor(account, endpointID, position)
}
