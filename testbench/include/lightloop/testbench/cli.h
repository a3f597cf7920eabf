// SPDX-License-Identifier: Apache-2.0
// The `lightloop` command line: one program, one subcommand per task, and
// `--help` on each. Each subcommand lives in testbench/src/cli/.
//
//   int main(int argc, char** argv) { return lightloop::testbench::RunCli(argc, argv); }
#pragma once

namespace lightloop::testbench {

// Parses, runs the chosen subcommand and returns the process exit code:
// 0 success, 1 the command failed (one clear message on stderr), 2 usage.
int RunCli(int argc, char** argv);

}  // namespace lightloop::testbench
