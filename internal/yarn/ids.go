package yarn

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// ApplicationID identifies a YARN application: application_<ts>_<id>.
type ApplicationID struct {
	// ClusterTimestamp is the start time of the ResourceManager that
	// assigned the id, in milliseconds.
	ClusterTimestamp int64
	// ID is the sequence number.
	ID int32
}

func (a ApplicationID) String() string {
	return fmt.Sprintf("application_%d_%04d", a.ClusterTimestamp, a.ID)
}

// Proto returns the id as a message.
func (a ApplicationID) Proto() *pb.ApplicationIdProto {
	return &pb.ApplicationIdProto{ClusterTimestamp: proto.Int64(a.ClusterTimestamp), Id: proto.Int32(a.ID)}
}

// AppIDFromProto converts a message.
func AppIDFromProto(p *pb.ApplicationIdProto) ApplicationID {
	return ApplicationID{ClusterTimestamp: p.GetClusterTimestamp(), ID: p.GetId()}
}

// ParseApplicationID parses application_<ts>_<id>.
func ParseApplicationID(s string) (ApplicationID, error) {
	parts := strings.Split(s, "_")
	if len(parts) != 3 || parts[0] != "application" {
		return ApplicationID{}, fmt.Errorf("yarn: application id %q: want application_<cluster timestamp>_<number>", s)
	}
	ts, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 32)
	if err1 != nil || err2 != nil || ts < 0 || id < 0 {
		return ApplicationID{}, fmt.Errorf("yarn: application id %q: want application_<cluster timestamp>_<number>", s)
	}
	return ApplicationID{ClusterTimestamp: ts, ID: int32(id)}, nil
}

// AttemptID identifies an application attempt.
type AttemptID struct {
	App     ApplicationID
	Attempt int32
}

func (a AttemptID) String() string {
	return fmt.Sprintf("appattempt_%d_%04d_%06d", a.App.ClusterTimestamp, a.App.ID, a.Attempt)
}

// Proto returns the id as a message.
func (a AttemptID) Proto() *pb.ApplicationAttemptIdProto {
	return &pb.ApplicationAttemptIdProto{ApplicationId: a.App.Proto(), AttemptId: proto.Int32(a.Attempt)}
}

// AttemptIDFromProto converts a message.
func AttemptIDFromProto(p *pb.ApplicationAttemptIdProto) AttemptID {
	return AttemptID{App: AppIDFromProto(p.GetApplicationId()), Attempt: p.GetAttemptId()}
}

// ContainerID identifies a container:
// container_[e<epoch>_]<ts>_<app>_<attempt>_<id>. The epoch (the
// ResourceManager restarts) is in the bits above 40 of ID.
type ContainerID struct {
	Attempt AttemptID
	ID      int64
}

func (c ContainerID) String() string {
	epoch := c.ID >> 40
	seq := c.ID & (1<<40 - 1)
	prefix := "container_"
	if epoch > 0 {
		prefix += fmt.Sprintf("e%02d_", epoch)
	}
	return fmt.Sprintf("%s%d_%04d_%02d_%06d", prefix, c.Attempt.App.ClusterTimestamp, c.Attempt.App.ID, c.Attempt.Attempt, seq)
}

// Proto returns the id as a message.
func (c ContainerID) Proto() *pb.ContainerIdProto {
	return &pb.ContainerIdProto{AppId: c.Attempt.App.Proto(), AppAttemptId: c.Attempt.Proto(), Id: proto.Int64(c.ID)}
}

// ContainerIDFromProto converts a message.
func ContainerIDFromProto(p *pb.ContainerIdProto) ContainerID {
	app := p.GetAppAttemptId().GetApplicationId()
	if app == nil {
		app = p.GetAppId()
	}
	return ContainerID{Attempt: AttemptID{App: AppIDFromProto(app), Attempt: p.GetAppAttemptId().GetAttemptId()}, ID: p.GetId()}
}

// ParseContainerID parses a container id, such as the CONTAINER_ID a
// NodeManager gives a container; the ApplicationMaster learns its
// application and attempt from it.
func ParseContainerID(s string) (ContainerID, error) {
	bad := func() (ContainerID, error) {
		return ContainerID{}, fmt.Errorf("yarn: container id %q: want container_[e<epoch>_]<cluster timestamp>_<app>_<attempt>_<number>", s)
	}
	parts := strings.Split(s, "_")
	if len(parts) < 5 || parts[0] != "container" {
		return bad()
	}
	parts = parts[1:]
	var epoch int64
	if strings.HasPrefix(parts[0], "e") {
		e, err := strconv.ParseInt(parts[0][1:], 10, 32)
		if err != nil || e < 0 {
			return bad()
		}
		epoch, parts = e, parts[1:]
	}
	if len(parts) != 4 {
		return bad()
	}
	var n [4]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 {
			return bad()
		}
		n[i] = v
	}
	if n[1] > 1<<31-1 || n[2] > 1<<31-1 || n[3] >= 1<<40 {
		return bad()
	}
	return ContainerID{
		Attempt: AttemptID{App: ApplicationID{ClusterTimestamp: n[0], ID: int32(n[1])}, Attempt: int32(n[2])},
		ID:      epoch<<40 | n[3],
	}, nil
}
