package config

import (
	"fmt"
	"slices"
	"strings"
)

// ProfileAPI are a workspace's Profile API settings, as Segment's identity
// settings and rate limits are a space's.
type ProfileAPI struct {
	// IDTypes are the external id types users are looked up by; empty
	// means DefaultIDTypes. A type left out answers 400.
	IDTypes []string `yaml:"idTypes"`
	// RateLimit is how many requests a second one access token may make
	// (Segment allows 100); 0 means no limit.
	RateLimit float64 `yaml:"rateLimit"`
}

// UserIDTypes are the id types Roster keeps for users.
var UserIDTypes = []string{"user_id", "anonymous_id", "email"}

// DefaultIDTypes are the id types a workspace's users are looked up by
// when its config names none.
var DefaultIDTypes = UserIDTypes

// UserIDTypes returns the id types the workspace's users are looked up by.
func (p ProfileAPI) UserIDTypes() []string {
	if len(p.IDTypes) == 0 {
		return DefaultIDTypes
	}
	return p.IDTypes
}

func (p ProfileAPI) validate(at string) error {
	for i, t := range p.IDTypes {
		if !slices.Contains(UserIDTypes, t) {
			return fmt.Errorf("%s.profileAPI.idTypes[%d]: %q is not an id type Roster keeps (%s)", at, i, t, strings.Join(UserIDTypes, ", "))
		}
	}
	if p.RateLimit < 0 {
		return fmt.Errorf("%s.profileAPI.rateLimit: must not be negative", at)
	}
	return nil
}
