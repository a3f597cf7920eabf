// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/cli.h"

int main(int argc, char** argv) { return lightloop::testbench::RunCli(argc, argv); }
