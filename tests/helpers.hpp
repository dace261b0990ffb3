#pragma once
// Small helpers shared by the test suites.
#include <doctest/doctest.h>

#include <string>

namespace xgrad::testing {

// The message of the E that f() throws; fails the test when f() throws nothing.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    FAIL("expected an exception");
    return {};
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace xgrad::testing
