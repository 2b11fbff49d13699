// vis's native CPU kernels for ONNX Runtime: the backward passes that ORT's operator set can only express slowly.
//
// MaxPoolGrad(X, dY) -> dX   each output gradient goes to the first maximum (row-major) of its window in X,
//                             as torch does; replaces MaxPool-with-Indices + ScatterElements (and the stride-1
//                             routing by equality masks), which are the slowest part of a GoogLeNet gradient.
// ReluGrad(Y, dY) -> dX      dY where Y > 0, else 0: one pass instead of Greater + Cast + Mul.
//
// Both are float32, NCHW, domain "vis.native", and run on ORT's intra-op thread pool.
//
// The library talks to ORT through its C API, which is versioned and append-only: the API table returned by
// GetApi(17) is an array of function pointers whose slots never move. The slot numbers below are facts of that ABI
// (onnxruntime_c_api.h), written here so that building needs only a C++ compiler, not ORT's headers, which no
// onnxruntime wheel ships. A wrong slot would fail the kernel tests at once.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

struct OrtStatus;
struct OrtValue;
struct OrtKernelInfo;
struct OrtKernelContext;
struct OrtTensorTypeAndShapeInfo;
struct OrtCustomOpDomain;
struct OrtSessionOptions;

constexpr uint32_t kApiVersion = 17;  // KernelContext_ParallelFor appeared in API 17 (ORT 1.17)
constexpr int kErrorFail = 1;         // OrtErrorCode ORT_FAIL
constexpr int kFloat = 1;             // ONNXTensorElementDataType FLOAT

enum Slot : size_t {
  kCreateStatus = 0,
  kGetErrorMessage = 2,
  kCreateCustomOpDomain = 26,
  kCustomOpDomainAdd = 27,
  kAddCustomOpDomain = 28,
  kGetTensorMutableData = 51,
  kGetDimensionsCount = 61,
  kGetDimensions = 62,
  kGetTensorTypeAndShape = 65,
  kKernelContextGetInput = 90,
  kKernelContextGetOutput = 91,
  kReleaseStatus = 93,
  kReleaseTensorTypeAndShapeInfo = 99,
  kKernelInfoGetAttributeArrayInt64 = 163,
  kKernelContextParallelFor = 274,
};

struct OrtApiBase {
  const void* const* (*GetApi)(uint32_t version);
  const char* (*GetVersionString)();
};

const void* const* g_api = nullptr;

template <typename F>
F api(Slot slot) {
  return reinterpret_cast<F>(const_cast<void*>(g_api[slot]));
}

// A thrown message becomes an OrtStatus at the ABI boundary.
struct Failure {
  std::string message;
};

void check(OrtStatus* status) {
  if (status != nullptr) {
    Failure failure{std::string("vis.native: ") + api<const char* (*)(const OrtStatus*)>(kGetErrorMessage)(status)};
    api<void (*)(OrtStatus*)>(kReleaseStatus)(status);
    throw failure;
  }
}

OrtStatus* to_status(const Failure& failure) {
  return api<OrtStatus* (*)(int, const char*)>(kCreateStatus)(kErrorFail, failure.message.c_str());
}

std::vector<int64_t> shape_of(const OrtValue* value) {
  OrtTensorTypeAndShapeInfo* info = nullptr;
  check(api<OrtStatus* (*)(const OrtValue*, OrtTensorTypeAndShapeInfo**)>(kGetTensorTypeAndShape)(value, &info));
  size_t rank = 0;
  OrtStatus* status = api<OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, size_t*)>(kGetDimensionsCount)(info, &rank);
  std::vector<int64_t> dims(rank);
  if (status == nullptr) {
    status = api<OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, int64_t*, size_t)>(kGetDimensions)(
        info, dims.data(), rank);
  }
  api<void (*)(OrtTensorTypeAndShapeInfo*)>(kReleaseTensorTypeAndShapeInfo)(info);
  check(status);
  return dims;
}

const OrtValue* input(OrtKernelContext* context, size_t index) {
  const OrtValue* value = nullptr;
  check(api<OrtStatus* (*)(const OrtKernelContext*, size_t, const OrtValue**)>(kKernelContextGetInput)(
      context, index, &value));
  return value;
}

OrtValue* output(OrtKernelContext* context, size_t index, const std::vector<int64_t>& dims) {
  OrtValue* value = nullptr;
  check(api<OrtStatus* (*)(OrtKernelContext*, size_t, const int64_t*, size_t, OrtValue**)>(kKernelContextGetOutput)(
      context, index, dims.data(), dims.size(), &value));
  return value;
}

float* data(const OrtValue* value) {
  void* ptr = nullptr;
  check(api<OrtStatus* (*)(OrtValue*, void**)>(kGetTensorMutableData)(const_cast<OrtValue*>(value), &ptr));
  return static_cast<float*>(ptr);
}

std::vector<int64_t> ints_attribute(const OrtKernelInfo* info, const char* name) {
  using Get = OrtStatus* (*)(const OrtKernelInfo*, const char*, int64_t*, size_t*);
  size_t size = 0;
  check(api<Get>(kKernelInfoGetAttributeArrayInt64)(info, name, nullptr, &size));
  std::vector<int64_t> values(size);
  check(api<Get>(kKernelInfoGetAttributeArrayInt64)(info, name, values.data(), &size));
  return values;
}

template <typename Body>
void parallel_for(OrtKernelContext* context, size_t total, Body& body) {
  auto trampoline = [](void* user, size_t i) { (*static_cast<Body*>(user))(i); };
  check(api<OrtStatus* (*)(const OrtKernelContext*, void (*)(void*, size_t), size_t, size_t, void*)>(
      kKernelContextParallelFor)(context, trampoline, total, 0, &body));
}

// ---------------------------------------------------------------------------------------------------- kernels

struct Geometry {
  int64_t h, w, oh, ow, kh, kw, sh, sw, pad_top, pad_left;
};

// One (n, c) plane. The window scan is branch-free (conditional moves): with real activations which element is
// the maximum is unpredictable, and mispredicted branches made a branchy scan 5x slower.
void route_plane(const Geometry& q, const float* __restrict__ x, const float* __restrict__ g, float* __restrict__ dx) {
  std::memset(dx, 0, sizeof(float) * q.h * q.w);
  for (int64_t i = 0; i < q.oh; ++i) {
    const int64_t r0 = std::max<int64_t>(i * q.sh - q.pad_top, 0);
    const int64_t r1 = std::min<int64_t>(i * q.sh - q.pad_top + q.kh, q.h);
    for (int64_t j = 0; j < q.ow; ++j) {
      const int64_t c0 = std::max<int64_t>(j * q.sw - q.pad_left, 0);
      const int64_t c1 = std::min<int64_t>(j * q.sw - q.pad_left + q.kw, q.w);
      if (r0 >= r1 || c0 >= c1) continue;
      int64_t best = r0 * q.w + c0;
      float top = x[best];
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) {
          const float v = x[r * q.w + c];
          const bool higher = v > top;  // strict: ties keep the first maximum, as torch does
          top = higher ? v : top;
          best = higher ? r * q.w + c : best;
        }
      }
      dx[best] += g[i * q.ow + j];
    }
  }
}

// dY where Y > 0, else 0, as a select that the compiler vectorises.
void relu_route(const float* __restrict__ y, const float* __restrict__ g, float* __restrict__ dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? g[i] : 0.0f;
}

struct MaxPoolGrad {
  static constexpr const char* kName = "MaxPoolGrad";
  int64_t kh, kw, sh, sw, pad_top, pad_left;

  explicit MaxPoolGrad(const OrtKernelInfo* info) {
    std::vector<int64_t> kernel = ints_attribute(info, "kernel_shape");
    std::vector<int64_t> strides = ints_attribute(info, "strides");
    std::vector<int64_t> pads = ints_attribute(info, "pads");
    if (kernel.size() != 2 || strides.size() != 2 || pads.size() != 4) {
      throw Failure{"vis.native MaxPoolGrad: 2-D kernel_shape, strides and pads expected"};
    }
    kh = kernel[0], kw = kernel[1], sh = strides[0], sw = strides[1], pad_top = pads[0], pad_left = pads[1];
  }

  void compute(OrtKernelContext* context) {
    const OrtValue* x_value = input(context, 0);
    const OrtValue* g_value = input(context, 1);
    std::vector<int64_t> xs = shape_of(x_value), gs = shape_of(g_value);
    if (xs.size() != 4 || gs.size() != 4 || xs[0] != gs[0] || xs[1] != gs[1]) {
      throw Failure{"vis.native MaxPoolGrad: X [N, C, H, W] and dY [N, C, OH, OW] expected"};
    }
    const float* x = data(x_value);
    const float* g = data(g_value);
    float* dx = data(output(context, 0, xs));
    const int64_t h = xs[2], w = xs[3], oh = gs[2], ow = gs[3];
    const Geometry geo{h, w, oh, ow, kh, kw, sh, sw, pad_top, pad_left};
    auto plane = [&](size_t p) { route_plane(geo, x + p * h * w, g + p * oh * ow, dx + p * h * w); };
    parallel_for(context, static_cast<size_t>(xs[0] * xs[1]), plane);
  }
};

struct ReluGrad {
  static constexpr const char* kName = "ReluGrad";
  explicit ReluGrad(const OrtKernelInfo*) {}

  void compute(OrtKernelContext* context) {
    const OrtValue* y_value = input(context, 0);
    const OrtValue* g_value = input(context, 1);
    std::vector<int64_t> shape = shape_of(y_value);
    if (shape != shape_of(g_value)) throw Failure{"vis.native ReluGrad: Y and dY must have the same shape"};
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const float* y = data(y_value);
    const float* g = data(g_value);
    float* dx = data(output(context, 0, shape));
    constexpr int64_t kChunk = 1 << 15;
    auto chunk = [&](size_t c) {
      const int64_t begin = static_cast<int64_t>(c) * kChunk, end = std::min(begin + kChunk, n);
      relu_route(y + begin, g + begin, dx + begin, end - begin);
    };
    parallel_for(context, static_cast<size_t>((n + kChunk - 1) / kChunk), chunk);
  }
};

// ---------------------------------------------------------------------------------------------------- the ABI

// OrtCustomOp with version 16: the fields ORT reads for that version, in their ABI order.
struct CustomOp {
  uint32_t version;
  void* (*CreateKernel)(const CustomOp*, const void*, const OrtKernelInfo*);
  const char* (*GetName)(const CustomOp*);
  const char* (*GetExecutionProviderType)(const CustomOp*);
  int (*GetInputType)(const CustomOp*, size_t);
  size_t (*GetInputTypeCount)(const CustomOp*);
  int (*GetOutputType)(const CustomOp*, size_t);
  size_t (*GetOutputTypeCount)(const CustomOp*);
  void (*KernelCompute)(void*, OrtKernelContext*);
  void (*KernelDestroy)(void*);
  int (*GetInputCharacteristic)(const CustomOp*, size_t);
  int (*GetOutputCharacteristic)(const CustomOp*, size_t);
  int (*GetInputMemoryType)(const CustomOp*, size_t);
  int (*GetVariadicInputMinArity)(const CustomOp*);
  int (*GetVariadicInputHomogeneity)(const CustomOp*);
  int (*GetVariadicOutputMinArity)(const CustomOp*);
  int (*GetVariadicOutputHomogeneity)(const CustomOp*);
  OrtStatus* (*CreateKernelV2)(const CustomOp*, const void*, const OrtKernelInfo*, void**);
  OrtStatus* (*KernelComputeV2)(void*, OrtKernelContext*);
  // Later fields (shape inference, opset range, in-place hints) are read only for versions >= 17.
  void* reserved[7];
};

// Runs ``body``; any exception becomes a returned status, since nothing may unwind across the C ABI.
template <typename Body>
OrtStatus* guarded(Body&& body) {
  try {
    body();
    return nullptr;
  } catch (const Failure& f) {
    return to_status(f);
  } catch (const std::exception& e) {  // e.g. bad_alloc
    return to_status(Failure{std::string("vis.native: ") + e.what()});
  }
}

template <typename Kernel>
CustomOp make_op() {
  CustomOp op{};
  op.version = 16;
  op.GetName = [](const CustomOp*) { return Kernel::kName; };
  op.GetExecutionProviderType = [](const CustomOp*) -> const char* { return "CPUExecutionProvider"; };
  op.GetInputType = [](const CustomOp*, size_t) { return kFloat; };
  op.GetInputTypeCount = [](const CustomOp*) -> size_t { return 2; };
  op.GetOutputType = [](const CustomOp*, size_t) { return kFloat; };
  op.GetOutputTypeCount = [](const CustomOp*) -> size_t { return 1; };
  op.KernelDestroy = [](void* kernel) { delete static_cast<Kernel*>(kernel); };
  op.GetInputCharacteristic = [](const CustomOp*, size_t) { return 0; };   // required
  op.GetOutputCharacteristic = [](const CustomOp*, size_t) { return 0; };  // required
  op.GetInputMemoryType = [](const CustomOp*, size_t) { return 0; };       // OrtMemTypeDefault
  op.GetVariadicInputMinArity = [](const CustomOp*) { return 1; };
  op.GetVariadicInputHomogeneity = [](const CustomOp*) { return 1; };
  op.GetVariadicOutputMinArity = [](const CustomOp*) { return 1; };
  op.GetVariadicOutputHomogeneity = [](const CustomOp*) { return 1; };
  op.CreateKernelV2 = [](const CustomOp*, const void*, const OrtKernelInfo* info, void** kernel) {
    return guarded([&] { *kernel = new Kernel(info); });
  };
  op.KernelComputeV2 = [](void* kernel, OrtKernelContext* context) {
    return guarded([&] { static_cast<Kernel*>(kernel)->compute(context); });
  };
  return op;
}

CustomOp g_maxpool_grad = make_op<MaxPoolGrad>();
CustomOp g_relu_grad = make_op<ReluGrad>();

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* RegisterCustomOps(OrtSessionOptions* options,
                                                                              const OrtApiBase* base) {
  g_api = base->GetApi(kApiVersion);
  if (g_api == nullptr) return nullptr;  // ORT older than 1.17: ORT itself reports the missing ops
  OrtCustomOpDomain* domain = nullptr;
  OrtStatus* status = api<OrtStatus* (*)(const char*, OrtCustomOpDomain**)>(kCreateCustomOpDomain)("vis.native", &domain);
  if (status) return status;
  for (CustomOp* op : {&g_maxpool_grad, &g_relu_grad}) {
    status = api<OrtStatus* (*)(OrtCustomOpDomain*, const CustomOp*)>(kCustomOpDomainAdd)(domain, op);
    if (status) return status;
  }
  // The domain must outlive every session that uses it; it is released with the process.
  return api<OrtStatus* (*)(OrtSessionOptions*, OrtCustomOpDomain*)>(kAddCustomOpDomain)(options, domain);
}
