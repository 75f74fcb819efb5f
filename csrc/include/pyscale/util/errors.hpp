// Errors the core reports beyond std::invalid_argument.
#pragma once

#include <cstddef>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace pyscale {

// An allocation the core could not make, with the size it needed.
class AllocationError : public std::runtime_error {
public:
    AllocationError(const std::string& what, std::size_t bytes)
        : std::runtime_error(describe(what, bytes)), bytes_(bytes) {}
    std::size_t bytes() const { return bytes_; }

private:
    static std::string describe(const std::string& what, std::size_t bytes) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.3g GiB", static_cast<double>(bytes) / (1u << 30));
        return "cannot allocate " + what + ": needs " + buf + " (" + std::to_string(bytes) +
               " bytes)";
    }
    std::size_t bytes_;
};

}  // namespace pyscale
