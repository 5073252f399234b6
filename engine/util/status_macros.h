#pragma once
// Status propagation helpers (Triton/abseil style): return-if-error at every boundary.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define OVSERVE_CONCAT_INNER_(a, b) a##b
#define OVSERVE_CONCAT_(a, b) OVSERVE_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::absl::Status ovserve_status_ = (expr);          \
    if (!ovserve_status_.ok()) return ovserve_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(OVSERVE_CONCAT_(ovserve_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
