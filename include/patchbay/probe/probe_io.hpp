#pragma once
// A probe in an HDF5 group: W, b (+ mean, std) and its training record as attributes.
#include <string>

#include "patchbay/probe/logistic.hpp"

namespace patchbay {

class H5Writer;
class H5Reader;

void write_probe(H5Writer& out, const std::string& group, const LogisticProbe& probe);
// Throws FormatError naming the file and group when the probe is missing or inconsistent.
LogisticProbe read_probe(const H5Reader& in, const std::string& group);

}  // namespace patchbay
