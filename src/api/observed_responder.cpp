#include "api/observed_responder.h"

#include <spdlog/spdlog.h>

#include "platform/key_secret.h"
#include "util/clock.h"

namespace gengyun::api {

std::string key_prefix(const std::optional<std::string>& authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization || !authorization->starts_with(kBearer)) return "-";
  const std::string key = authorization->substr(kBearer.size());
  if (key.size() < 2 * platform::kKeyPrefixChars) return "-";
  return key.substr(0, platform::kKeyPrefixChars);
}

ObservedResponder::ObservedResponder(std::shared_ptr<Responder> inner, std::string method,
                                     std::string path, std::string key_prefix,
                                     std::string cors_origin)
    : inner_(std::move(inner)),
      method_(std::move(method)),
      path_(std::move(path)),
      key_prefix_(std::move(key_prefix)),
      cors_origin_(std::move(cors_origin)),
      started_us_(monotonic_us()) {}

ObservedResponder::~ObservedResponder() { log_once(); }

void ObservedResponder::add_cors(HttpHeaders& headers) const {
  if (cors_origin_.empty()) return;
  headers.emplace_back("Access-Control-Allow-Origin", cors_origin_);
  headers.emplace_back("Vary", "Origin");
  headers.emplace_back("Access-Control-Expose-Headers",
                       "x-request-id, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, "
                       "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, Retry-After");
}

void log_access(std::string_view method, std::string_view path, int status, double ms,
                std::string_view key_prefix, bool client_gone) {
  spdlog::info("access: {} {} {} {:.1f}ms key={}{}", method, path, status, ms, key_prefix,
               client_gone ? " client gone" : "");
}

void ObservedResponder::log_once() {
  std::lock_guard lock(mutex_);
  if (logged_) return;
  logged_ = true;
  const double ms = static_cast<double>(monotonic_us() - started_us_) / 1000.0;
  // A client gone before any answer is logged 499, as its ledger row says (nginx's "client
  // closed request"); it was logged 0.
  const bool gone = inner_->client_gone();
  log_access(method_, path_, status_ == 0 && gone ? 499 : status_, ms, key_prefix_, gone);
}

bool ObservedResponder::respond(HttpResponse response) {
  add_cors(response.headers);
  const int status = response.status;
  const bool sent = inner_->respond(std::move(response));
  if (sent) {
    {
      std::lock_guard lock(mutex_);
      status_ = status;
    }
    log_once();
  }
  return sent;
}

bool ObservedResponder::start_stream(int status, std::string content_type, HttpHeaders headers) {
  add_cors(headers);
  const bool started = inner_->start_stream(status, std::move(content_type), std::move(headers));
  if (started) {
    std::lock_guard lock(mutex_);
    status_ = status;
  }
  return started;
}

bool ObservedResponder::write(std::string chunk) { return inner_->write(std::move(chunk)); }

bool ObservedResponder::finish() {
  const bool finished = inner_->finish();
  if (finished) log_once();
  return finished;
}

bool ObservedResponder::client_gone() const { return inner_->client_gone(); }

void ObservedResponder::on_client_gone(std::function<void()> callback) {
  inner_->on_client_gone(std::move(callback));
}

size_t ObservedResponder::queued_bytes() const { return inner_->queued_bytes(); }

size_t ObservedResponder::unsent_bytes() const { return inner_->unsent_bytes(); }

}  // namespace gengyun::api
