"""`imias phone` plays calls against `imias serve`: prompts printed, digits typed on
standard input (scripted here), through to a booking and to a transfer."""

import os
import re
import select
import subprocess
import sys
import time

import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from serving import serve
from signin import adults

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_phone_cli_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=120, patients=500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("phone") / "serve.log"
    # a demo speaks the sign-in code, so that a call can be tried without a phone
    with serve(
        city,
        redis_url,
        log,
        workers=1,
        secret_key=TEST_SECRET,
        demo="1",
        call_centre_number="+74950000122",
    ) as url:
        yield url


def simulator(url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "imias.cli", "phone", "--url", url, "--from", "+79990001122"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )


def test_a_scripted_call_that_fails_three_times_is_transferred(server):
    process = simulator(server)
    out, _ = process.communicate(b"1\n\n123\nabc\n", timeout=60)
    text = out.decode()
    assert process.returncode == 0, text
    assert "Введите шестнадцать цифр номера полиса" in text
    assert "Мы ничего не услышали" in text and "Не удалось распознать ввод" in text
    assert text.rstrip().endswith("[transferred to +74950000122]")


def read_until_prompt(process: subprocess.Popen, timeout: float = 30) -> str:
    """What the simulator printed up to its next "> " prompt."""
    seen = b""
    deadline = time.monotonic() + timeout
    fd = process.stdout.fileno()
    while not seen.endswith(b"> "):
        assert time.monotonic() < deadline, seen.decode()
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, seen.decode()
            seen += chunk
    return seen.decode()


async def test_a_typed_call_signs_in_with_the_spoken_demo_code_and_books(server, city):
    (patient,) = await adults(city, 1)
    process = simulator(server)
    try:
        read_until_prompt(process)
        # The digits end with the # the prompts ask for, as a caller presses it.
        policy, born = patient["policy_number"] + "#", patient["birth_date"].strftime("%d%m%Y#")
        for digits in ("1", policy, born):
            process.stdin.write(digits.encode() + b"\n")
            process.stdin.flush()
            said = read_until_prompt(process)
        code = re.search(r"код ((?:\d ){5}\d)", said).group(1).replace(" ", "")
        for digits in (code, "1", "3"):  # menu: book; specialty 3: ophthalmologist
            process.stdin.write(digits.encode() + b"\n")
            process.stdin.flush()
            said = read_until_prompt(process)
        assert "Врач-офтальмолог:" in said
        process.stdin.write(b"1\n")
        process.stdin.flush()
        said = read_until_prompt(process)
        assert "Вы записаны" in said
        process.stdin.close()  # hang up
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
