package stats

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
)

// DeviceIO is a cgroup's block IO on one device as the kernel counts it: io.stat on
// cgroup v2, blkio's throttle counters on v1. cAdvisor served these as the
// container_fs_{reads,writes}{_bytes,}_total series; the CRI's stats have no field for
// them, so only the metrics RPCs carry them.
type DeviceIO struct {
	// Device is the block device's /dev path ("/dev/vda"), or "MAJ:MIN" when /sys does
	// not name it.
	Device                               string
	ReadBytes, WriteBytes, Reads, Writes uint64
}

// ContainerIO is the block IO of a running container's cgroup.
func (c *Collector) ContainerIO(insp *container.InspectResponse) []DeviceIO {
	if cg := c.runningCgroup(insp); cg != nil {
		return cg.readIO()
	}
	return nil
}

// PodIO is the block IO of a running pod's cgroup (its cgroup parent); nil for a pod
// without one.
func (c *Collector) PodIO(sb *container.InspectResponse) []DeviceIO {
	if !hasPodCgroup(sb) {
		return nil
	}
	if pod := c.podCgroup(sb); pod != nil {
		return pod.readIO()
	}
	return nil
}

func (cg *cgroup) readIO() []DeviceIO {
	buf := getBuffer()
	defer putBuffer(buf)
	devs := map[string]*DeviceIO{}
	dev := func(majMin string) *DeviceIO {
		d := devs[majMin]
		if d == nil {
			d = &DeviceIO{Device: deviceName(majMin)}
			devs[majMin] = d
		}
		return d
	}
	if cg.v2 {
		b, err := cg.files.read(buf, filepath.Join(cg.dir(""), "io.stat"))
		if err != nil {
			return nil
		}
		parseIOStat(b, dev)
	} else {
		d := cg.dir("blkio")
		if b, err := cg.files.read(buf, filepath.Join(d, "blkio.throttle.io_service_bytes_recursive")); err == nil {
			parseBlkio(b, dev, func(io *DeviceIO) (*uint64, *uint64) { return &io.ReadBytes, &io.WriteBytes })
		}
		if b, err := cg.files.read(buf, filepath.Join(d, "blkio.throttle.io_serviced_recursive")); err == nil {
			parseBlkio(b, dev, func(io *DeviceIO) (*uint64, *uint64) { return &io.Reads, &io.Writes })
		}
	}
	out := make([]DeviceIO, 0, len(devs))
	for _, d := range devs {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DeviceIO) int { return strings.Compare(a.Device, b.Device) })
	return out
}

// parseIOStat reads v2's io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N".
func parseIOStat(b []byte, dev func(string) *DeviceIO) {
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) < 2 {
			continue
		}
		d := dev(string(f[0]))
		for _, kv := range f[1:] {
			k, v, ok := bytes.Cut(kv, []byte{'='})
			if !ok {
				continue
			}
			n, err := parseUint(v)
			if err != nil {
				continue
			}
			switch string(k) {
			case "rbytes":
				d.ReadBytes = n
			case "wbytes":
				d.WriteBytes = n
			case "rios":
				d.Reads = n
			case "wios":
				d.Writes = n
			}
		}
	}
}

// parseBlkio reads a v1 blkio throttle file: "MAJ:MIN Read N", "MAJ:MIN Write N", …,
// "Total N"; fields picks the read and write counters it fills.
func parseBlkio(b []byte, dev func(string) *DeviceIO, fields func(*DeviceIO) (*uint64, *uint64)) {
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, err := parseUint(f[2])
		if err != nil {
			continue
		}
		r, w := fields(dev(string(f[0])))
		switch string(f[1]) {
		case "Read":
			*r = n
		case "Write":
			*w = n
		}
	}
}

// deviceNames caches the /dev names of block devices by "MAJ:MIN".
var deviceNames sync.Map

// sysBlock is where the kernel describes block devices by number.
var sysBlock = "/sys/dev/block"

func deviceName(majMin string) string {
	if name, ok := deviceNames.Load(majMin); ok {
		return name.(string)
	}
	name := majMin
	if b, err := os.ReadFile(filepath.Join(sysBlock, majMin, "uevent")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if dev, ok := strings.CutPrefix(line, "DEVNAME="); ok && dev != "" {
				name = "/dev/" + dev
			}
		}
	}
	deviceNames.Store(majMin, name)
	return name
}
