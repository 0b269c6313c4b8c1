"""schema.dataloader: what the service relies on of a DataLoader (a pure asyncio unit: the
batch function is a plain coroutine; the loaders' MongoDB commands are counted in
tests/test_command_counts.py)."""

import asyncio
from collections.abc import Sequence

import pytest

from schema.dataloader import DataLoader, WrongNumberOfResults


class Recorder:
    def __init__(self, fail: Exception | None = None, short: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail
        self.short = short

    async def __call__(self, keys: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(list(keys))
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        values: list[int | BaseException] = [
            ValueError(f"no {k}") if k < 0 else k * 10 for k in keys
        ]
        return values[:-1] if self.short else values


async def test_keys_asked_for_in_one_step_are_one_batch_and_cached() -> None:
    recorder = Recorder()
    loader = DataLoader(recorder)

    async def nested() -> int:
        return await loader.load(3)

    values = await asyncio.gather(loader.load(1), loader.load(2), loader.load(1), nested())
    assert values == [10, 20, 10, 30]
    assert recorder.batches == [[1, 2, 3]]
    assert await loader.load(2) == 20 and await loader.load_many([1, 3]) == [10, 30]
    assert recorder.batches == [[1, 2, 3]]  # all cached
    assert await loader.load_many([4, 5]) == [40, 50]
    assert recorder.batches == [[1, 2, 3], [4, 5]]


async def test_errors_reach_the_futures_they_concern() -> None:
    loader = DataLoader(Recorder())
    results = await asyncio.gather(loader.load(-1), loader.load(2), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] == 20

    failing = DataLoader(Recorder(fail=RuntimeError("down")))
    results = await asyncio.gather(failing.load(1), failing.load(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and str(r) == "down" for r in results)

    short = DataLoader(Recorder(short=True))
    with pytest.raises(WrongNumberOfResults):
        await short.load_many([1, 2])


async def test_a_cancelled_load_is_loaded_again_and_a_batch_nobody_awaits_is_not_run() -> None:
    recorder = Recorder()
    loader = DataLoader(recorder)
    first = loader.load(1)
    first.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert recorder.batches == []  # every future of the batch cancelled: no call
    assert await loader.load(1) == 10
    assert recorder.batches == [[1]]
