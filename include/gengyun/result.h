// Errors as values. A Result<T> holds either a T or an Error whose message a person can act
// on ("qwen.gguf: tensor 'blk.0.attn_q.weight' data ends at byte 9000, past the end of the
// file (8192 bytes)"). Functions that can fail on bad input return Result; they never abort
// the process on bad input.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace gengyun {

/// A failure with a human-readable message.
struct Error {
  std::string message;
};

/// Either a value of type T or an Error (std::expected-like; C++20 lacks std::expected).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  /// The value; only valid when ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

  /// The error; only valid when !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Success carrying no value.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

/// Shorthand for `return Error{...}` with a formatted message built by the caller.
inline Error make_error(std::string message) { return Error{std::move(message)}; }

}  // namespace gengyun
