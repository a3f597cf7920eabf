// SPDX-License-Identifier: Apache-2.0
// Each subcommand adds itself to the app and sets `run` to what it executes.
// CLI11 is heavy to compile (its validators are built in every file that
// includes it): code that only writes files includes cli/write_file.h.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/write_file.h"
#include "lightloop/runtime/status.h"

namespace lightloop::testbench {

using CommandFn = std::function<runtime::Status()>;

void AddMemnodeCommand(CLI::App& app, CommandFn& run);
void AddBenchCommand(CLI::App& app, CommandFn& run);
void AddInfoCommand(CLI::App& app, CommandFn& run);
void AddModelCommand(CLI::App& app, CommandFn& run);
void AddRunCommand(CLI::App& app, CommandFn& run);  // run, check, compare, make-model
void AddBoardCommand(CLI::App& app, CommandFn& run);
void AddSweepCommand(CLI::App& app, CommandFn& run);         // sweep
void AddSuiteCommand(CLI::App& app, CommandFn& run);         // suite
void AddServeCommand(CLI::App& app, CommandFn& run);         // serve: the gRPC lab service
void AddRemoteCommand(CLI::App& app, CommandFn& run);        // remote run|suite|status|cancel|targets
void AddBoardBenchCommand(CLI::App& bench, CommandFn& run);  // bench board
void AddFabricdCommand(CLI::App& app, CommandFn& run);       // fabricd: the shared simulated fabric

// The virtual board's data and control lane latencies and its host-memory
// read latency, in cycles, as --fwd-latency, --rev-latency, --host-latency.
void AddBoardLatencyFlags(CLI::App* cmd, uint32_t& fwd_latency, uint32_t& rev_latency,
                          uint32_t& host_latency);

}  // namespace lightloop::testbench
