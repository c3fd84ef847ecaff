// Whole-table reads for tests: every tenant or key of a store, read through the paged reads
// the product uses (Store::tenants_page, Store::keys_page) until a page comes back short.
#pragma once

#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::platform::testing {

/// Every tenant of `store`, by id. Errors: the store's.
inline Result<std::vector<TenantInfo>> all_tenants(Store& store) {
  std::vector<TenantInfo> all;
  for (Page page{0, 100};;) {
    auto tenants = store.tenants_page(page);
    if (!tenants) return tenants.error();
    all.insert(all.end(), tenants->begin(), tenants->end());
    if (static_cast<int64_t>(tenants->size()) < page.limit) return all;
    page.after_id = tenants->back().id;
  }
}

/// Every key of `store`, active and revoked, of every tenant, by id. Errors: the store's.
inline Result<std::vector<KeyInfo>> all_keys(Store& store) {
  std::vector<KeyInfo> all;
  for (KeyPage query{{0, 100}, std::nullopt, true};;) {
    auto keys = store.keys_page(query);
    if (!keys) return keys.error();
    all.insert(all.end(), keys->begin(), keys->end());
    if (static_cast<int64_t>(keys->size()) < query.page.limit) return all;
    query.page.after_id = keys->back().id;
  }
}

}  // namespace gengyun::platform::testing
