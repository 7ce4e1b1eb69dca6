"""The seed post's first demo: teach the hand-written RNN one sentence, then recite it.

Same setup as the post: alphabet `abcdefghijklmnopqrstuvwxyz .01` with `0` as the start marker and
`1` as the end marker, hidden size 35, Adam with learning rate 0.01. Two changes make it recite
the sentence exactly instead of about 80% of it: the loss is cross-entropy on the logits (the
post used MSE against one-hot targets), and generation feeds back the *chosen character* (the
post fed the raw output vector back in as if it were a one-hot input).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from charlm.alphabet import Alphabet
from charlm.models import CharModel, ModelConfig, build_model

HELLO_SENTENCE = "hello pytorch and data analytics."
HELLO_ALPHABET = "abcdefghijklmnopqrstuvwxyz .01"
START, END = "0", "1"


def train_hello(sentence: str = HELLO_SENTENCE, hidden_size: int = 35, epochs: int = 300,
                learning_rate: float = 0.01, seed: int = 0) -> tuple[CharModel, Alphabet]:
    torch.manual_seed(seed)
    alphabet = Alphabet(HELLO_ALPHABET)
    model = build_model(ModelConfig("scratch", len(alphabet), hidden_size))
    ids = torch.tensor([alphabet.encode(START + sentence + END)])
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    for _ in range(epochs):
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits[0], ids[0, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), alphabet


@torch.inference_mode()
def recite(model: CharModel, alphabet: Alphabet, max_length: int = 200) -> str:
    """Greedy generation from the start marker until the end marker (or max_length)."""
    next_id = torch.tensor([[alphabet.encode(START)[0]]])
    end_id = alphabet.encode(END)[0]
    state = None
    produced: list[int] = []
    for _ in range(max_length):
        logits, state = model(next_id, state)
        next_id = logits[:, -1].argmax(dim=-1, keepdim=True)
        if int(next_id) == end_id:
            break
        produced.append(int(next_id))
    return alphabet.decode(produced)
