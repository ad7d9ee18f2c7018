package state

import "testing"

func TestMemory(t *testing.T) {
	s := NewMemory()
	key := []byte("k")
	if _, ok := s.Get(key); ok {
		t.Fatal("an empty store has k")
	}
	s.Put(key, 1)
	key[0] = 'x' // the store keeps no reference to the key
	if v, ok := s.Get([]byte("k")); !ok || v != 1 {
		t.Fatalf("Get(k) = %v, %v after Put(k, 1)", v, ok)
	}
	s.Put([]byte("k"), 2)
	if v, _ := s.Get([]byte("k")); v != 2 || s.Len() != 1 {
		t.Fatalf("Get(k) = %v, Len = %d after a second Put", v, s.Len())
	}
	s.Put([]byte("j"), 3)
	all := map[string]any{}
	for k, v := range s.All() {
		all[string(k)] = v
	}
	if len(all) != 2 || all["k"] != 2 || all["j"] != 3 {
		t.Fatalf("All yields %v, want k: 2, j: 3", all)
	}
	s.Delete([]byte("j"))
	s.Delete([]byte("k"))
	s.Delete([]byte("missing"))
	if _, ok := s.Get([]byte("k")); ok || s.Len() != 0 {
		t.Fatal("k is still there after Delete")
	}
}
