;; wasifs intrinsics: the only code through which the shim touches the app's memory and the embedded
;; filesystem image (docs/ARCHITECTURE.md §3). The rewriter compiles this file with `wat::parse_str`
;; and merges it: memory $app becomes the app's exported `memory`, memory $shim the shim's own
;; memory, and the passive segment $image the image segment (the last data segment of the output).
;; Nothing here reads the app's globals: the shim never guesses which one is a stack pointer.
(module
  (import "wasifs" "app_memory" (memory $app 0))
  (import "wasifs" "shim_memory" (memory $shim 0))

  ;; Placeholder: the merge maps this segment to the image. Never dropped.
  (data $image "")

  ;; copy_to_app(dst_app, src_shim, len)
  (func (export "copy_to_app") (param $dst i32) (param $src i32) (param $len i32)
    (memory.copy $app $shim (local.get $dst) (local.get $src) (local.get $len)))

  ;; copy_from_app(dst_shim, src_app, len)
  (func (export "copy_from_app") (param $dst i32) (param $src i32) (param $len i32)
    (memory.copy $shim $app (local.get $dst) (local.get $src) (local.get $len)))

  ;; zero_app(dst_app, len): `len` zero bytes from `dst_app` on
  (func (export "zero_app") (param $dst i32) (param $len i32)
    (memory.fill $app (local.get $dst) (i32.const 0) (local.get $len)))

  ;; image_to_shim(dst_shim, image_off, len)
  (func (export "image_to_shim") (param $dst i32) (param $off i32) (param $len i32)
    (memory.init $shim $image (local.get $dst) (local.get $off) (local.get $len)))

  ;; image_to_app(dst_app, image_off, len)
  (func (export "image_to_app") (param $dst i32) (param $off i32) (param $len i32)
    (memory.init $app $image (local.get $dst) (local.get $off) (local.get $len)))

  (func (export "app_load_u8") (param $p i32) (result i32)
    (i32.load8_u $app (local.get $p)))
  (func (export "app_load_u16") (param $p i32) (result i32)
    (i32.load16_u $app align=1 (local.get $p)))
  (func (export "app_load_u32") (param $p i32) (result i32)
    (i32.load $app align=1 (local.get $p)))
  (func (export "app_load_u64") (param $p i32) (result i64)
    (i64.load $app align=1 (local.get $p)))

  (func (export "app_store_u8") (param $p i32) (param $v i32)
    (i32.store8 $app (local.get $p) (local.get $v)))
  (func (export "app_store_u16") (param $p i32) (param $v i32)
    (i32.store16 $app align=1 (local.get $p) (local.get $v)))
  (func (export "app_store_u32") (param $p i32) (param $v i32)
    (i32.store $app align=1 (local.get $p) (local.get $v)))
  (func (export "app_store_u64") (param $p i32) (param $v i64)
    (i64.store $app align=1 (local.get $p) (local.get $v)))

  ;; app_memory_size() -> pages of the app's memory
  (func (export "app_memory_size") (result i32)
    (memory.size $app))
)
