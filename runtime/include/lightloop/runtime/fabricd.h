// SPDX-License-Identifier: Apache-2.0
// The fabric daemon, `lightloop fabricd`: one simulated fabric shared by
// several processes that use the lightloop provider (a memnode in one, its
// clients in others, the two sides of fi_pingpong). The provider starts it on
// demand; `lightloop fabricd` runs it by hand. Design: docs/targets.md.
//
//   lightloop::runtime::FabricdOptions o;
//   o.config_path = "hw_models/presets/nodes/optical_io_fixed.yaml";
//   o.time = "virtual";
//   return lightloop::runtime::RunFabricd(o);  // until SIGINT/SIGTERM
#pragma once

#include <string>

namespace lightloop::runtime {

struct FabricdOptions {
  std::string socket_path;     // empty: DefaultFabricdSocket()
  std::string config_path;     // the hw_models node file the fabric is built from
  std::string time = "paced";  // virtual | paced
  std::string timing = "tlm";  // tlm (the node's SystemC modules) | closed_form
  double dilation = 1000;      // paced: wall seconds per simulated second
  double idle_exit_s = 0;      // > 0: exit once no process has been connected for this long
  // Virtual time: hold time at 0 until this many processes have joined, so
  // that a run of several clients is deterministic however late one starts.
  int64_t expect = 0;
  double expect_timeout_s = 30;  // ... and stop with an error if they have not, this long after the first
  bool daemonize = false;        // fork into the background (the provider's on-demand start)
};

// $XDG_RUNTIME_DIR/lightloop-fabricd.sock, or /tmp/lightloop-fabricd-<uid>.sock.
std::string DefaultFabricdSocket();

// Serves the fabric until SIGINT/SIGTERM (or the idle exit); prints one line
// beginning `fabricd ready` once it listens. Returns the exit status; errors
// (a configuration that does not load, a socket another daemon serves) are
// printed to stderr.
int RunFabricd(const FabricdOptions& options);

}  // namespace lightloop::runtime
