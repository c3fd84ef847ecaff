#include "bench/report.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

namespace gengyun::bench {
namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

/// The shortest digits that read back as the same double (0.002064, not %.17g's
/// 0.0020639999999999999); null for NaN and infinities (not JSON). 32 bytes hold any double's
/// shortest form (at most 24 characters), so to_chars cannot run out of room.
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

std::string json_numbers(const std::vector<double>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + json_number(values[i]);
  return out + "]";
}

}  // namespace

std::string bench_result_json(const BenchResult& r) {
  std::string out = "{";
  const auto field = [&out](std::string_view key, const std::string& value) {
    if (out.size() > 1) out += ",";
    out += json_string(key) + ":" + value;
  };
  field("model", json_string(r.model));
  field("arch", json_string(r.arch));
  field("cpu_model", json_string(r.cpu_model));
  field("threads", std::to_string(r.threads));
  field("n_prompt", std::to_string(r.n_prompt));
  field("n_gen", std::to_string(r.n_gen));
  field("repeats", std::to_string(r.repeats));
  field("kv_cache_type", json_string(r.kv_cache_type));
  field("weights_memory", json_string(r.weights_memory));
  field("kernels", json_string(r.kernels));
  field("load_seconds", json_number(r.load_seconds));
  field("prefill_tokens_per_s", json_number(r.prefill_tokens_per_s));
  field("decode_tokens_per_s", json_number(r.decode_tokens_per_s));
  field("prefill_runs_tokens_per_s", json_numbers(r.prefill_runs_tokens_per_s));
  field("decode_runs_tokens_per_s", json_numbers(r.decode_runs_tokens_per_s));
  field("weight_bytes_per_token", std::to_string(r.weight_bytes_per_token));
  field("read_bandwidth_gb_per_s", json_number(r.read_bandwidth_gb_per_s));
  field("decode_bandwidth_utilization", json_number(r.decode_bandwidth_utilization));
  if (r.serving) {
    const ServingResult& s = *r.serving;
    field("parallel", std::to_string(s.parallel));
    field("serving_output_tokens", std::to_string(s.output_tokens));
    field("serving_seconds", json_number(s.seconds));
    field("serving_output_tokens_per_s", json_number(s.output_tokens_per_s));
    field("ttft_p50_ms", json_number(s.ttft_p50_ms));
    field("ttft_p99_ms", json_number(s.ttft_p99_ms));
    field("itl_p50_ms", json_number(s.itl_p50_ms));
    field("itl_p99_ms", json_number(s.itl_p99_ms));
    if (s.usd_per_hour > 0) {
      field("usd_per_hour", json_number(s.usd_per_hour));
      field("usd_per_million_output_tokens", json_number(s.usd_per_million_output_tokens));
    }
  }
  if (r.lora_serving) {
    field("lora_adapters", std::to_string(r.n_adapters));
    field("lora_serving_output_tokens_per_s", json_number(r.lora_serving->output_tokens_per_s));
    field("lora_ttft_p50_ms", json_number(r.lora_serving->ttft_p50_ms));
    field("lora_itl_p50_ms", json_number(r.lora_serving->itl_p50_ms));
  }
  return out + "}\n";
}

std::string bench_result_text(const BenchResult& r) {
  const auto format = [&r](char* buf, size_t size) {
    return std::snprintf(buf, size,
                         "model      %s (%s)\n"
                         "cpu        %s; threads: %d; kernels: %s; KV cache: %s\n"
                         "load       %8.2f s  (weights in %s memory, warm-up token included)\n"
                         "prefill    %8.2f tokens/s  (%d token%s in one batch, median of %d)\n"
                         "decode     %8.2f tokens/s  (%d token%s, median of %d)\n"
                         "weights    %8.1f MB read per decoded token\n"
                         "bandwidth  %8.2f GB/s read by the same threads\n"
                         "decode uses %.1f%% of the read bandwidth%s\n",
                         r.model.c_str(), r.arch.c_str(), r.cpu_model.c_str(), r.threads,
                         r.kernels_description.c_str(), r.kv_cache_type.c_str(), r.load_seconds,
                         r.weights_memory.c_str(), r.prefill_tokens_per_s, r.n_prompt,
                         r.n_prompt == 1 ? "" : "s", r.repeats, r.decode_tokens_per_s, r.n_gen,
                         r.n_gen == 1 ? "" : "s", r.repeats, r.weight_bytes_per_token / 1e6,
                         r.read_bandwidth_gb_per_s, 100 * r.decode_bandwidth_utilization,
                         // Weights that fit in the caches are not read from memory per token.
                         r.decode_bandwidth_utilization > 1.0
                             ? " (more than all: the weights fit in the CPU's caches)"
                             : "");
  };
  std::string out(format(nullptr, 0), '\0');
  format(out.data(), out.size() + 1);
  if (!r.serving) return out;
  const ServingResult& s = *r.serving;
  char line[512];
  // "p50 X ms, p99 Y ms", or why there is none (one token a stream).
  const auto inter_token = [](double p50, double p99) {
    if (std::isnan(p50)) return std::string("n/a (one token a stream)");
    char text[96];
    std::snprintf(text, sizeof text, "p50 %.2f ms, p99 %.2f ms", p50, p99);
    return std::string(text);
  };
  std::snprintf(line, sizeof line,
                "serving    %8.2f output tokens/s  (%d streams of %d + %d tokens, %.3f s)\n"
                "TTFT       p50 %.1f ms, p99 %.1f ms; inter-token %s\n",
                s.output_tokens_per_s, s.parallel, r.n_prompt, r.n_gen, s.seconds, s.ttft_p50_ms,
                s.ttft_p99_ms, inter_token(s.itl_p50_ms, s.itl_p99_ms).c_str());
  out += line;
  if (s.usd_per_hour > 0) {
    std::snprintf(line, sizeof line, "cost       %.4f USD per million output tokens at %.4g USD/hour\n",
                  s.usd_per_million_output_tokens, s.usd_per_hour);
    out += line;
  }
  if (r.lora_serving) {
    const ServingResult& l = *r.lora_serving;
    std::snprintf(line, sizeof line,
                  "LoRA       %8.2f output tokens/s  (the same streams over %d adapters: %.2fx the "
                  "base alone; TTFT p50 %.1f ms, inter-token %s)\n",
                  l.output_tokens_per_s, r.n_adapters,
                  s.output_tokens_per_s > 0 ? l.output_tokens_per_s / s.output_tokens_per_s : 0.0,
                  l.ttft_p50_ms, inter_token(l.itl_p50_ms, l.itl_p99_ms).c_str());
    out += line;
  }
  return out;
}

}  // namespace gengyun::bench
