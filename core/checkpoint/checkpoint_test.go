package checkpoint

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSaveLoadDelete(t *testing.T) {
	s := NewStore(t.TempDir())
	cp := &Sandbox{Name: "web", Namespace: "ns", Data: &Data{PortMappings: []PortMapping{{Protocol: "tcp", ContainerPort: 80, HostPort: 8080}}}, IPs: []string{"10.1.0.5", "fd00::5"}}
	if err := s.Save("abc", cp); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("abc")
	if err != nil || !reflect.DeepEqual(got, cp) || got.Version != "v1" {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, cp)
	}
	if err := s.Delete("abc"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load("abc"); got != nil || err != nil {
		t.Errorf("after Delete: %v, %v", got, err)
	}
	if err := s.Delete("abc"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if err := s.Save(bad, cp); err == nil {
			t.Errorf("Save(%q) accepted", bad)
		}
	}
	if entries, _ := os.ReadDir(s.dir); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// A cri-dockerd checkpoint (no dockercri fields, a checksum) reads as one of ours.
func TestReadsCriDockerdCheckpoint(t *testing.T) {
	root := t.TempDir()
	raw := `{"version":"v1","name":"web","namespace":"default","data":{"port_mappings":[{"protocol":"tcp","container_port":80,"host_port":8080,"host_ip":"127.0.0.1"}],"host_network":false},"checksum":1234567}`
	if err := os.MkdirAll(filepath.Join(root, "sandbox"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sandbox", "abc"), []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := NewStore(root).Load("abc")
	if err != nil {
		t.Fatal(err)
	}
	want := PortMapping{Protocol: "tcp", ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1"}
	if got.Name != "web" || len(got.Data.PortMappings) != 1 || got.Data.PortMappings[0] != want {
		t.Errorf("cri-dockerd checkpoint read as %+v", got)
	}
	if err := os.WriteFile(filepath.Join(root, "sandbox", "bad"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(root).Load("bad"); err == nil {
		t.Error("a damaged checkpoint read without error")
	}
}

// A crash between the temporary file's creation and its rename leaves .tmp-<id>N
// (atomicwriter's name; .<id>.tmp-N of older dockercri):
// RemoveTemps, at start, removes those and nothing else; IDs lists the checkpoints.
func TestRemoveTempsAndIDs(t *testing.T) {
	root := t.TempDir()
	s := NewStore(root)
	if err := s.RemoveTemps(); err != nil {
		t.Fatalf("RemoveTemps before any checkpoint: %v", err)
	}
	for _, id := range []string{"abc", "def"} {
		if err := s.Save(id, &Sandbox{Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{".abc.tmp-123", ".ghi.tmp-9", ".tmp-abc123456"} {
		if err := os.WriteFile(filepath.Join(root, "sandbox", name), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveTemps(); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(filepath.Join(root, "sandbox"))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"abc", "def"}) {
		t.Errorf("after RemoveTemps the directory holds %v, want the two checkpoints", names)
	}
	if ids, err := s.IDs(); err != nil || !reflect.DeepEqual(ids, []string{"abc", "def"}) {
		t.Errorf("IDs = %v, %v", ids, err)
	}
	if cp, err := s.Load("abc"); err != nil || cp.Name != "abc" {
		t.Errorf("checkpoint after RemoveTemps: %+v, %v", cp, err)
	}
}
