package cli

import (
	"encoding/json"
	"fmt"
	goruntime "runtime"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/internal/version"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// DoctorOptions are the options of `gauntlet doctor`.
type DoctorOptions struct {
	ORTLibrary string
	JSON       bool
	// FetchHint prints the commands that fetch the ONNX Runtime library
	// and does nothing else.
	FetchHint bool
	// Search overrides the library search (tests).
	Search *runtime.LibrarySearch
}

// DoctorReport is what `gauntlet doctor --json` prints.
type DoctorReport struct {
	GauntletVersion string                `json:"gauntlet_version"`
	GoVersion       string                `json:"go_version"`
	OS              string                `json:"os"`
	ORTLibrary      string                `json:"ort_library"`
	ORTVersion      string                `json:"ort_version"`
	ORTError        string                `json:"ort_error,omitempty"`
	Providers       []cuda.ProviderStatus `json:"providers"`
	GPUs            []string              `json:"gpus"`
}

func newDoctorCmd(s Streams) *cobra.Command {
	o := &DoctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the ONNX Runtime library, execution providers and GPUs",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return Doctor(o, s) },
	}
	cmd.Flags().StringVar(&o.ORTLibrary, "ort-library", "", "path to the ONNX Runtime shared library")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&o.FetchHint, "fetch-hint", false, "print the commands that fetch the ONNX Runtime library Gauntlet is tested with, and exit")
	return cmd
}

// Doctor runs `gauntlet doctor`. It fails (exit 2) when no ONNX Runtime
// library can be loaded.
func Doctor(o *DoctorOptions, s Streams) error {
	if o.FetchHint {
		fmt.Fprintln(s.Out, runtime.FetchHint())
		return nil
	}
	r := DoctorReport{GauntletVersion: version.String(), GoVersion: goruntime.Version(),
		OS: goruntime.GOOS + "/" + goruntime.GOARCH, GPUs: cuda.GPUs()}
	search := runtime.DefaultSearch(o.ORTLibrary, "")
	if o.Search != nil {
		search = *o.Search
	}
	lib, err := runtime.FindLibrary(search)
	if err == nil {
		var env *runtime.Environment
		if env, err = runtime.Init(lib); err == nil {
			r.ORTLibrary, r.ORTVersion = env.LibraryPath, env.Version
		}
	}
	if err != nil {
		r.ORTError = err.Error()
	}
	r.Providers = cuda.Probe()
	if r.GPUs == nil {
		r.GPUs = []string{}
	}
	if o.JSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(s.Out, string(b))
		return err
	}
	fmt.Fprintf(s.Out, "gauntlet     %s (%s, %s)\n", r.GauntletVersion, r.GoVersion, r.OS)
	if r.ORTError != "" {
		fmt.Fprintf(s.Out, "onnxruntime  NOT LOADED\n")
	} else {
		fmt.Fprintf(s.Out, "onnxruntime  %s (%s)\n", r.ORTVersion, r.ORTLibrary)
	}
	for _, p := range r.Providers {
		st := "available"
		if !p.Available {
			st = "unavailable: " + firstLine(p.Error)
		}
		fmt.Fprintf(s.Out, "provider     %-26s %s\n", p.Provider, st)
	}
	if len(r.GPUs) == 0 {
		fmt.Fprintln(s.Out, "gpus         none seen (no nvidia-smi, no /proc/driver/nvidia/gpus)")
	}
	for _, g := range r.GPUs {
		fmt.Fprintf(s.Out, "gpu          %s\n", g)
	}
	return err
}
