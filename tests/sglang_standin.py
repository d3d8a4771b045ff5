"""A stand-in for `python -m sglang.launch_server` where a real one cannot run (no GPU): the same flags, the same
/health, /generate and /v1/completions endpoints, answered by the transformers engine on a tiny model. That engine
finishes as SGLang does (the token limit before the stop tokens; text with special tokens skipped: see
``m1repro/engines/hf.py``), so replies here are what an SGLang server would send for the same greedy tokens.

Used only by tests of the SGLang engine's lifecycle and wire format. ``--fail-at-start`` exits with an error before
becoming healthy; ``--never-healthy`` never answers /health; ``--args-out FILE`` records the parsed flags.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-path", required=True)
    ap.add_argument("--tokenizer-path")
    ap.add_argument("--mem-fraction-static", type=float)
    ap.add_argument("--dp", type=int, default=1)
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--random-seed", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fail-at-start", action="store_true")
    ap.add_argument("--never-healthy", action="store_true")
    ap.add_argument("--args-out")
    # 0.4.3.post2's /generate reply has no output_ids; the ids come as output_token_logprobs when asked
    ap.add_argument("--emulate-0.4.3", dest="emulate_043", action="store_true")
    args = ap.parse_args()
    if args.args_out:
        with open(args.args_out, "w") as fh:
            json.dump(vars(args), fh)
    if args.fail_at_start:
        print("RuntimeError: CUDA out of memory (stand-in)", flush=True)
        sys.exit(3)
    sys.path.insert(0, ".")
    from m1repro.engines.hf import HFEngine

    engine = HFEngine(args.model_path, tokenizer_path=args.tokenizer_path, batch_size=16, num_threads=1)
    time.sleep(0.5)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def _send(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health" and not args.never_healthy:
                self._send(200, {})
            else:
                self._send(503, {"error": "not ready"})

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/generate":
                prompts = req.get("text") or req["input_ids"]
                sp = req["sampling_params"]
                comps = engine.generate(prompts, [p["max_new_tokens"] for p in sp], sp[0].get("stop") or [])
                out = []
                for c in comps:
                    # SGLang's output_ids hold every generated id, the matched stop token included, and its
                    # finish_reason names the match (Req.check_finished; FINISH_MATCHED_TOKEN.to_json)
                    reason: dict[str, object] = {"type": c.finish_reason}
                    if c.stop_ids:
                        reason["matched"] = c.stop_ids[-1]
                    ids = list(c.token_ids or ()) + list(c.stop_ids)
                    out.append(
                        {
                            "text": c.text,
                            "output_ids": ids,
                            "meta_info": {"finish_reason": reason, "completion_tokens": len(ids)},
                        }
                    )
                    if args.emulate_043:
                        del out[-1]["output_ids"]
                        if req.get("return_logprob"):
                            out[-1]["meta_info"]["output_token_logprobs"] = [[0.0, i, None] for i in ids]
                self._send(200, out)
            elif self.path == "/v1/completions":
                comps = engine.generate(req["prompt"], req["max_tokens"], req.get("stop") or [])
                self._send(
                    200,
                    {
                        "choices": [
                            {"index": i, "text": c.text, "finish_reason": c.finish_reason} for i, c in enumerate(comps)
                        ],
                        "usage": {"completion_tokens": sum(c.num_tokens for c in comps)},
                    },
                )
            else:
                self._send(404, {"error": self.path})

    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
