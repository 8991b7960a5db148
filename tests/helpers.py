"""What several test files share."""

import variants


def bet_model(obs_dim, act_dim, *, k=24, context=5, n_layer=4, n_head=4, n_embd=72, dropout=0.1, alpha=1.0, gamma=2.0,
              **parts):
    """A freshly initialised BeT, or a Table 3 variant (trunk=, discretizer=, head=, offsets=), built as train.py
    builds one (variants.build); sizes not given are Table 4's block-push column with its dropout 0.1."""
    return variants.build(variants.bet_config(obs_dim, act_dim, k=k, context=context, n_layer=n_layer, n_head=n_head,
                                              n_embd=n_embd, dropout=dropout, alpha=alpha, gamma=gamma, **parts))
