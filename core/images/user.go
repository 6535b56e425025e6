package images

import (
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// setUser fills the CRI image's uid or username from the image's USER
// ("uid", "uid:gid", "name" or "name:group"). The group is not the CRI image's concern:
// container creation reads it again. An image with no USER sets neither, as dockershim did.
func setUser(img *runtimeapi.Image, user string) {
	user, _, _ = strings.Cut(user, ":")
	if user == "" {
		return
	}
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil && uid >= 0 {
		img.Uid = &runtimeapi.Int64Value{Value: uid}
		return
	}
	img.Username = user
}
