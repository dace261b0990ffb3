#pragma once
// xgrad: reverse-mode automatic differentiation on a tape, for recurrent networks.
// One include for everything: #include <xgrad/xgrad.hpp>
#include "graph/errors.hpp"
#include "graph/tensor.hpp"
#include "graph/random.hpp"
#include "graph/tape.hpp"
#include "graph/parameter.hpp"
#include "graph/record.hpp"
#include "graph/broadcast.hpp"
#include "graph/gradcheck.hpp"
#include "graph/dot.hpp"
#include "ops/registry.hpp"
#include "ops/ops.hpp"
#include "ops/checks.hpp"
#include "nn/module.hpp"
