#pragma once
// The exceptions xgrad throws. Every one derives from xgrad::error (itself a std::runtime_error),
// so `catch (const xgrad::error&)` catches anything the library reports, and the specific
// types let callers react to one kind of failure.
#include <stdexcept>
#include <string>

namespace xgrad {

struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Shapes that an op cannot combine. The message names the op, both shapes and the scope
// (for a recurrent layer, the time step).
struct shape_error : error {
    using error::error;
};

// Two tensors of different dtypes met in one op; xgrad never promotes silently.
struct dtype_error : error {
    using error::error;
};

// A var used after its tape was cleared or destroyed, or on a tape other than the active one.
struct stale_variable_error : error {
    using error::error;
};

// backward() asked for something it cannot do: a non-scalar root without a seed gradient,
// a seed of the wrong shape, no tape to record on.
struct backward_error : error {
    using error::error;
};

// Anomaly mode found a NaN or an infinity after a forward or backward rule.
struct anomaly_error : error {
    using error::error;
};

// An argument an op cannot accept (an axis out of range, an index past the end, ...).
struct argument_error : error {
    using error::error;
};

}  // namespace xgrad
