// SPDX-License-Identifier: Apache-2.0
// A progress bar for long work (calibration, analysis): drawn on stderr only when it is a
// terminal, so logs stay quiet.
#pragma once

#include <chrono>
#include <string>

namespace qforge {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  ~ProgressBar();
  void advance(int64_t steps = 1);
  void finish();

 private:
  void draw();
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace qforge
