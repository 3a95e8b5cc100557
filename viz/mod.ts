// Pictures of a run: conv1 filter mosaics per column with a colour-specialisation
// measure (./filters.ts), training curves from metrics.jsonl (./curves.ts) and the
// prediction grid (./grid.ts). The PNG encoders load sharp lazily (data/decode.ts),
// so importing this module needs no FFI permission until a picture is rendered.

export * from "./filters.ts";
export * from "./curves.ts";
export * from "./grid.ts";
