package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// The token that the embedded (local) run accepts when API_TOKENS is unset.
// It is public by design: SPEC §2 has it announced in the log.
const (
	DefaultToken = "dev-token"
	DefaultOrg   = "default"
)

// Org names end up inside Redis keys; keep them to characters that cannot
// collide with key separators or cluster hash tags.
var orgShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// parseTokens reads API_TOKENS: comma-separated token:org pairs. Empty items
// (a trailing comma) are skipped. Messages name entries by position, never by
// content, because an entry written the wrong way round would put the token
// where the org is expected.
func parseTokens(raw string) (map[string]string, error) {
	tokens := make(map[string]string)
	firstSeen := make(map[string]int)
	for i, item := range strings.Split(raw, ",") {
		n := i + 1
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		// The org is after the last colon so a token may itself hold colons.
		sep := strings.LastIndexByte(item, ':')
		if sep < 0 {
			return nil, fmt.Errorf("entry %d is not a token:org pair", n)
		}
		token := strings.TrimSpace(item[:sep])
		org := strings.TrimSpace(item[sep+1:])
		if token == "" {
			return nil, fmt.Errorf("entry %d has an empty token", n)
		}
		if org == "" {
			return nil, fmt.Errorf("entry %d has an empty org", n)
		}
		if err := checkHeaderSecret(token); err != nil {
			return nil, fmt.Errorf("entry %d: the token %w", n, err)
		}
		if !orgShape.MatchString(org) {
			return nil, fmt.Errorf("entry %d: the org must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", n)
		}
		if first, dup := firstSeen[token]; dup {
			return nil, fmt.Errorf("entry %d repeats the token of entry %d", n, first)
		}
		firstSeen[token] = n
		tokens[token] = org
	}
	if len(tokens) == 0 {
		return nil, errors.New("no token:org pairs")
	}
	return tokens, nil
}

// checkHeaderSecret rejects values that cannot travel intact as
// "Authorization: Bearer <value>". The error completes a sentence about the
// value and never quotes it.
func checkHeaderSecret(s string) error {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return errors.New("contains spaces or control characters")
		}
		if r > unicode.MaxASCII {
			return errors.New("contains non-ASCII characters")
		}
	}
	return nil
}

// orgNames lists the distinct orgs of tokens, sorted, for logs.
func orgNames(tokens map[string]string) []string {
	seen := make(map[string]bool, len(tokens))
	var orgs []string
	for _, org := range tokens {
		if !seen[org] {
			seen[org] = true
			orgs = append(orgs, org)
		}
	}
	sort.Strings(orgs)
	return orgs
}
