#include "util/ordered_json.h"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gengyun {
namespace {

using Json = nlohmann::ordered_json;
/// ordered_json's object: a vector of members, appended to here without its linear search.
using Members = std::vector<std::pair<const std::string, Json>>;
static_assert(std::is_base_of_v<Members, Json::object_t>);

/// A SAX handler that builds the value: the open arrays and objects on a stack, each open
/// object with an index of its members' names.
class Builder {
 public:
  Json take() { return std::move(root_); }

  bool null() { return place(Json(nullptr)) != nullptr; }
  bool boolean(bool v) { return place(Json(v)) != nullptr; }
  bool number_integer(Json::number_integer_t v) { return place(Json(v)) != nullptr; }
  bool number_unsigned(Json::number_unsigned_t v) { return place(Json(v)) != nullptr; }
  bool number_float(Json::number_float_t v, const std::string&) {
    return place(Json(v)) != nullptr;
  }
  bool string(std::string& v) { return place(Json(std::move(v))) != nullptr; }
  bool binary(Json::binary_t& v) { return place(Json::binary(std::move(v))) != nullptr; }
  bool start_object(size_t) { return open(Json::object()); }
  bool start_array(size_t) { return open(Json::array()); }
  bool end_object() {
    names_.pop_back();
    open_.pop_back();
    return true;
  }
  bool end_array() {
    open_.pop_back();
    return true;
  }
  bool key(std::string& name) {
    key_ = std::move(name);
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  /// Puts `value` where the text has it: the root, an array's next element, or the member of
  /// the last key read. Returns where it now lies.
  Json* place(Json value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& top = *open_.back();
    if (top.is_array()) {
      auto& elements = top.get_ref<Json::array_t&>();
      elements.push_back(std::move(value));
      return &elements.back();
    }
    Members& members = top.get_ref<Json::object_t&>();
    auto [at, fresh] = names_.back().try_emplace(key_, members.size());
    if (!fresh) {
      members[at->second].second = std::move(value);
      return &members[at->second].second;
    }
    members.emplace_back(key_, std::move(value));
    return &members.back().second;
  }
  bool open(Json empty) {
    const bool object = empty.is_object();
    open_.push_back(place(std::move(empty)));
    if (object) names_.emplace_back();
    return true;
  }

  Json root_;
  std::vector<Json*> open_;  // the open arrays and objects, innermost last
  std::vector<std::unordered_map<std::string, size_t>> names_;  // per open object: name -> index
  std::string key_;
};

}  // namespace

nlohmann::ordered_json parse_ordered_json(std::string_view text) {
  Builder builder;
  if (!Json::sax_parse(text, &builder)) return Json(Json::value_t::discarded);
  return builder.take();
}

void append_new_member(Json& object, std::string name, Json value) {
  Members& members = object.get_ref<Json::object_t&>();
  members.emplace_back(std::move(name), std::move(value));
}

}  // namespace gengyun
