package sqlite

// traitSet is one profile's traits as of the applied events: for each, the
// version that wins so far and whether it is written yet. A profile has a
// few traits, so they are a slice searched in order: three maps per
// profile were a tenth of the bytes that processing allocated. Past
// indexAt traits a map indexes them, so that a profile with thousands of
// traits costs no more per lookup than one with a few.
type traitSet struct {
	traits []traitState
	index  map[string]int
}

// traitState is kept from batch to batch (profileCache), a million of them
// at times, so it holds only what a write needs besides cur: the spelling,
// source and message of the event that wrote it, cleared once written so
// that the event's strings can go.
type traitState struct {
	key     string
	cur     version
	inTable bool
	dirty   bool // cur is not written yet
	moved   bool // dirty, but the table holds cur's value: only the version moved
	name    string
	source  string
	msgID   string
}

const indexAt = 16

func newTraitSet() *traitSet { return &traitSet{} }

// find returns the index of key's trait, or -1.
func (s *traitSet) find(key string) int {
	if s.index != nil {
		if i, ok := s.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range s.traits {
		if s.traits[i].key == key {
			return i
		}
	}
	return -1
}

// add appends a trait that find does not know and returns its index.
func (s *traitSet) add(key string) int {
	s.traits = append(s.traits, traitState{key: key})
	i := len(s.traits) - 1
	if s.index == nil && len(s.traits) > indexAt {
		s.index = make(map[string]int, 2*len(s.traits))
		for j := range s.traits {
			s.index[s.traits[j].key] = j
		}
	} else if s.index != nil {
		s.index[key] = i
	}
	return i
}

// loaded records a trait as read from the table.
func (s *traitSet) loaded(key string, v version) {
	i := s.find(key)
	if i < 0 {
		i = s.add(key)
	}
	s.traits[i].cur, s.traits[i].inTable = v, true
}
