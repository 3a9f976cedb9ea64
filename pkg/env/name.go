package env

// ValidName reports whether s can be the name of an environment variable a
// setting such as token_env or secret_env names: letters, digits and _,
// not starting with a digit. A secret pasted in place of its variable's
// name (tskey-…, xoxb-…) is not one.
func ValidName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}
