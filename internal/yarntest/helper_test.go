package yarntest_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// The test binary doubles as an ApplicationMaster: launched in a container
// with YARNTEST_AM=1 it runs helperAM instead of the tests.
func init() {
	if os.Getenv("YARNTEST_AM") == "1" {
		if err := helperAM(); err != nil {
			fmt.Fprintln(os.Stderr, "helper AM:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
}

// helperAM is a small ApplicationMaster written against package yarn
// only: it keeps YARNTEST_WORKERS containers running the command of
// YARNTEST_WORKER_CMD, replaces lost ones (exit code not 0), gives back
// preempted ones, adopts containers of earlier attempts, and when the file
// YARNTEST_STOP exists (or every worker succeeded) releases the rest and
// unregisters with diagnostics counting what happened.
func helperAM() error {
	ctx := context.Background()
	cid, err := yarn.ParseContainerID(os.Getenv("CONTAINER_ID"))
	if err != nil {
		return err
	}
	log.Printf("AM %s of attempt %s starting on %s:%s", cid, cid.Attempt, os.Getenv("NM_HOST"), os.Getenv("NM_PORT"))
	noTokens := os.Getenv("YARNTEST_NO_TOKENS")
	if noTokens == "am" {
		os.Unsetenv(yarn.TokenFileEnv)
	}
	cfg, err := yarn.ConfigFromEnv()
	if err != nil {
		return err
	}
	am, err := yarn.NewAMClient(cfg)
	if err != nil {
		return err
	}
	defer am.Close()
	tokens := am.NMTokens()
	if noTokens == "nm" {
		tokens = nil
	}
	nm, err := yarn.NewNMClient(cfg, tokens)
	if err != nil {
		return err
	}
	defer nm.Close()
	reg, err := am.Register(ctx, "127.0.0.1", 4242, "http://127.0.0.1:4243/"+cid.Attempt.App.String())
	if err != nil {
		return err
	}
	want, _ := strconv.Atoi(os.Getenv("YARNTEST_WORKERS"))
	running := map[yarn.ContainerID]*pb.ContainerProto{}
	for _, c := range reg.GetContainersFromPreviousAttempts() {
		running[yarn.ContainerIDFromProto(c.GetId())] = c
	}
	adopted := len(running)
	lost, preempted, succeeded, started := 0, 0, 0, 0
	res := &pb.ResourceProto{Memory: proto.Int64(256), VirtualCores: proto.Int32(1)}
	for {
		stop := false
		if f := os.Getenv("YARNTEST_STOP"); f != "" {
			if _, err := os.Stat(f); err == nil {
				stop = true
			}
		}
		need := want - len(running) - succeeded
		if stop {
			need = 0
		}
		// Asks are the total outstanding per priority, replacing the last.
		req := &pb.AllocateRequestProto{Progress: proto.Float32(0.5), Ask: []*pb.ResourceRequestProto{{
			Priority: &pb.PriorityProto{Priority: proto.Int32(1)}, ResourceName: proto.String("*"),
			Capability: res, NumContainers: proto.Int32(int32(max(need, 0)))}}}
		if stop {
			for id := range running {
				req.Release = append(req.Release, id.Proto())
			}
		}
		resp, err := am.Allocate(ctx, req)
		if err != nil {
			return err
		}
		if stop {
			diag := fmt.Sprintf("adopted=%d started=%d lost=%d preempted=%d succeeded=%d", adopted, started, lost, preempted, succeeded)
			_, err := am.Finish(ctx, pb.FinalApplicationStatusProto_APP_SUCCEEDED, diag, "")
			log.Printf("finished: %s", diag)
			return err
		}
		for _, c := range resp.GetAllocatedContainers() {
			launch := &pb.ContainerLaunchContextProto{
				Command:     []string{os.Getenv("YARNTEST_WORKER_CMD"), "1><LOG_DIR>/stdout", "2><LOG_DIR>/stderr"},
				Environment: []*pb.StringStringMapProto{{Key: proto.String("GREETING"), Value: proto.String("hello")}},
			}
			if err := nm.StartContainer(ctx, c, launch); err != nil && noTokens != "" {
				return err
			} else if err != nil {
				// Its node may be gone; the RM reports the container
				// completed and it is asked for again.
				log.Printf("start %s: %v", yarn.ContainerIDFromProto(c.GetId()), err)
				continue
			}
			if st, err := nm.ContainerStatuses(ctx, c.GetNodeId(), yarn.ContainerIDFromProto(c.GetId())); err != nil || len(st) != 1 {
				log.Printf("status of started container %s: %v %v", yarn.ContainerIDFromProto(c.GetId()), st, err)
			}
			running[yarn.ContainerIDFromProto(c.GetId())] = c
			started++
		}
		for _, s := range resp.GetCompletedContainerStatuses() {
			id := yarn.ContainerIDFromProto(s.GetContainerId())
			if _, ok := running[id]; !ok {
				continue
			}
			delete(running, id)
			if s.GetExitStatus() == 0 {
				succeeded++
			} else {
				lost++
				log.Printf("container %s lost: exit %d: %s", id, s.GetExitStatus(), s.GetDiagnostics())
			}
		}
		for _, p := range resp.GetPreempt().GetStrictContract().GetContainer() {
			id := yarn.ContainerIDFromProto(p.GetId())
			if c, ok := running[id]; ok {
				if err := nm.StopContainer(ctx, c.GetNodeId(), id); err != nil {
					return err
				}
				delete(running, id)
				preempted++
			}
		}
		if want > 0 && succeeded == want {
			diag := fmt.Sprintf("adopted=%d started=%d lost=%d preempted=%d succeeded=%d", adopted, started, lost, preempted, succeeded)
			_, err := am.Finish(ctx, pb.FinalApplicationStatusProto_APP_SUCCEEDED, diag, "")
			return err
		}
		if strings.Contains(os.Getenv("YARNTEST_FAIL_AFTER_REGISTER"), "1") {
			return fmt.Errorf("failing on purpose")
		}
		time.Sleep(20 * time.Millisecond) // the allocate heartbeat interval
	}
}
