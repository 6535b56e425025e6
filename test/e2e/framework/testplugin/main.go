// Command testplugin is a CNI plugin for dockercri's end-to-end tests, to put in a
// chain beside the real plugins. It passes the previous plugin's result on, and does
// what files in its state directory ("stateDir" in its config) tell it, per command
// (ADD, DEL, CHECK):
//
//	fail-<CMD>  while it exists, fail the command
//	hold-<CMD>  take it (once), write the plugin's pid to held-<CMD>, then wait until
//	            release-<CMD> exists (or forever): the test knows dockercri is in the
//	            middle of that command
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

type conf struct {
	CNIVersion string          `json:"cniVersion"`
	StateDir   string          `json:"stateDir"`
	PrevResult json.RawMessage `json:"prevResult,omitempty"`
}

func main() {
	cmd := os.Getenv("CNI_COMMAND")
	stdin, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("1.0.0", "read config: "+err.Error())
	}
	var c conf
	if cmd != "VERSION" {
		if err := json.Unmarshal(stdin, &c); err != nil || c.StateDir == "" {
			fail("1.0.0", fmt.Sprintf("config %q needs a stateDir (%v)", stdin, err))
		}
	}
	switch cmd {
	case "VERSION":
		fmt.Print(`{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}`)
		return
	case "ADD", "DEL", "CHECK":
	default:
		return
	}
	if _, err := os.Stat(filepath.Join(c.StateDir, "fail-"+cmd)); err == nil {
		fail(c.CNIVersion, "told to fail "+cmd)
	}
	held := filepath.Join(c.StateDir, "held-"+cmd)
	if os.Rename(filepath.Join(c.StateDir, "hold-"+cmd), held+".taken") == nil {
		if err := os.WriteFile(held+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o644); err == nil {
			_ = os.Rename(held+".tmp", held)
		}
		for {
			if _, err := os.Stat(filepath.Join(c.StateDir, "release-"+cmd)); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if cmd == "ADD" {
		if len(c.PrevResult) > 0 {
			os.Stdout.Write(c.PrevResult)
		} else {
			fmt.Printf(`{"cniVersion":%q}`, c.CNIVersion)
		}
	}
}

// fail prints a CNI error and exits.
func fail(version, msg string) {
	b, _ := json.Marshal(map[string]any{"cniVersion": version, "code": 100, "msg": "testplugin: " + msg})
	os.Stdout.Write(b)
	os.Exit(1)
}
