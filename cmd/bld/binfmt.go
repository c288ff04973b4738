package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bldbuild/bld/internal/binfmt"
)

func newBinfmtCmd(*globalOptions) *cobra.Command {
	var install, uninstall bool
	cmd := &cobra.Command{
		Use:   "binfmt [--install ARCH... | --uninstall [ARCH...]]",
		Short: "Show or register the QEMU emulators that RUN steps for other CPUs need",
		Long: `Without flags, lists the kernel's binfmt_misc handlers and the architectures they run.
--install ARCH... registers Debian's qemu-user-static interpreters (apt-get install
qemu-user-static) with the F flag, so that they work inside a RUN step's root;
--uninstall removes the handlers bld registered (all of them without ARCH).
Architectures: ` + strings.Join(binfmt.Arches(), ", ") + `.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case install && uninstall:
				return fmt.Errorf("binfmt: --install and --uninstall together")
			case install:
				if len(args) == 0 {
					return fmt.Errorf("binfmt --install: name the architectures (e.g. arm64)")
				}
				if err := binfmt.Install(args...); err != nil {
					return err
				}
			case uninstall:
				if err := binfmt.Uninstall(args...); err != nil {
					return err
				}
			case len(args) > 0:
				return fmt.Errorf("binfmt: %s: did you mean --install %s?", args[0], strings.Join(args, " "))
			}
			return printBinfmt(cmd)
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "register the emulators of the architectures named")
	cmd.Flags().BoolVar(&uninstall, "uninstall", false, "remove the emulators bld registered")
	return cmd
}

func printBinfmt(cmd *cobra.Command) error {
	hs, err := binfmt.Status()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tARCH\tENABLED\tFIX-BINARY\tINTERPRETER")
	if !binfmt.Mounted() {
		fmt.Fprintln(cmd.ErrOrStderr(), "binfmt_misc is not mounted: no emulator is registered (bld binfmt --install ARCH mounts it)")
	}
	for _, h := range hs {
		arch := h.Arch
		if arch == "" {
			arch = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%v\t%s\n", h.Name, arch, h.Enabled, h.FixBinary, h.Interpreter)
	}
	return w.Flush()
}
