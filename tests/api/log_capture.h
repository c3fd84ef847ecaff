// Capturing what a test's code logs (spdlog's default logger) to assert on it.
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

namespace gengyun::api::testing {

/// Captures the lines of the default logger while it lives: a logger of its own, holding the
/// previous default's sinks and a ring buffer, is made the default and the previous one is
/// restored at the end (sinks are never changed under a logging thread). The capturing logger
/// is kept for the process, so a line logged late by another thread still has its logger.
class LogCapture {
 public:
  LogCapture()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    std::vector<spdlog::sink_ptr> sinks = previous_->sinks();
    sinks.push_back(sink_);
    static std::vector<std::shared_ptr<spdlog::logger>> kept;
    kept.push_back(std::make_shared<spdlog::logger>("capture", sinks.begin(), sinks.end()));
    spdlog::set_default_logger(kept.back());
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  /// The captured lines that contain `text`.
  std::vector<std::string> lines_with(const std::string& text) const {
    std::vector<std::string> out;
    for (const std::string& line : sink_->last_formatted())
      if (line.find(text) != std::string::npos) out.push_back(line);
    return out;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace gengyun::api::testing
