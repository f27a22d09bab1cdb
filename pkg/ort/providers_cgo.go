package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// Only the pieces of the ONNX Runtime C API this file uses. OrtApi is a
// table of function pointers that only ever grows at the end, so a slot
// number is stable across releases: GetAvailableProviders is slot 125 and
// ReleaseAvailableProviders slot 126 (offsetof in onnxruntime_c_api.h,
// ORT_API_VERSION 24).
typedef struct OrtApiBase {
	const void* (*GetApi)(uint32_t version);
	const char* (*GetVersionString)(void);
} OrtApiBase;
typedef void* OrtStatusPtr;
typedef OrtStatusPtr (*get_providers_fn)(char*** out, int* n);
typedef OrtStatusPtr (*release_providers_fn)(char** ptr, int n);

static int infer_available_providers(const char* path, char*** out, int* n, void** api_out) {
	void* h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
	if (!h) return 1;
	OrtApiBase* (*base_fn)(void) = (OrtApiBase* (*)(void))dlsym(h, "OrtGetApiBase");
	if (!base_fn) { dlclose(h); return 2; }
	const void* api = base_fn()->GetApi(24);
	if (!api) { dlclose(h); return 3; }
	get_providers_fn get = ((get_providers_fn*)api)[125];
	OrtStatusPtr st = get(out, n);
	*api_out = (void*)api;
	dlclose(h);
	return st ? 4 : 0;
}

static void infer_release_providers(void* api, char** p, int n) {
	release_providers_fn rel = ((release_providers_fn*)api)[126];
	rel(p, n);
}

static char* infer_str_at(char** p, int i) { return p[i]; }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// CompiledProviders lists the execution providers compiled into the loaded
// library (ORT's GetAvailableProviders), e.g. TensorrtExecutionProvider,
// CUDAExecutionProvider, CPUExecutionProvider. Compiled in does not mean it
// can start: the GPU providers also need their own libraries and a device.
func CompiledProviders() ([]string, error) {
	info, ok := Loaded()
	if !ok {
		return nil, fmt.Errorf("ONNX Runtime is not loaded")
	}
	cpath := C.CString(info.Path)
	defer C.free(unsafe.Pointer(cpath))
	var list **C.char
	var n C.int
	var api unsafe.Pointer
	if rc := C.infer_available_providers(cpath, &list, &n, &api); rc != 0 {
		return nil, fmt.Errorf("asking %s for its providers failed (step %d)", info.Path, int(rc))
	}
	defer C.infer_release_providers(api, list, n)
	out := make([]string, 0, int(n))
	for i := 0; i < int(n); i++ {
		out = append(out, C.GoString(C.infer_str_at(list, C.int(i))))
	}
	return out, nil
}
