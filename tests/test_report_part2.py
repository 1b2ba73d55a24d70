"""The measures and generated sentences of the report's part 2, on small hand-made inputs."""
from report.part2 import Run
from report.part2_samples import cycles_sentence, sameness
from report.part2_text import find_cycle, word_share
from report.store import join_words, plural


def test_a_loop_is_found_with_its_period_and_start():
    cycle = find_cycle("Once there was the king and the king and the king and the king and")
    assert cycle is not None and cycle.period == len(" the king and") and cycle.start == len("Once there was")
    assert find_cycle("e" * 20).period == 1
    # a doubled letter or a short repeat at the end is not a loop
    assert find_cycle("the little hill and the bell") is None


def test_equal_loops_compare_equal_whatever_their_phase():
    a, b = find_cycle("xx" + "abcdefgh" * 3), find_cycle("yyy" + "defghabc" * 3)
    assert a.text == b.text


def test_words_cut_by_the_end_or_in_the_prompt_are_not_counted():
    assert word_share("Once upon", " a tyme there", {"a", "time", "there"}) == 0.5  # "there" is cut off
    assert word_share("Once upon", " a tyme there.", {"a", "time", "there"}) == 2 / 3


def test_generated_sentences_agree_in_number():
    assert plural(1, "prompt") == "1 prompt" and plural(4, "prompt") == "4 prompts"
    assert join_words(["a"]) == "a" and join_words(["a", "b", "c"]) == "a, b and c"
    assert cycles_sentence(["abcdefghij"], "greedy continuation") == (
        "the greedy continuation does not end in a loop")
    assert cycles_sentence(["abcdefghij", "klmnopqrst"], "sample") == "none of the 2 samples ends in a loop"
    one = cycles_sentence(["abcdefghij", "x" + "ab" * 10], "sample")
    assert one == "1 of the 2 samples ends in a loop: from character 2 on it repeats itself every 2 characters to its end"
    assert cycles_sentence(["e" * 20, "x" + "e" * 20], "sample").startswith("both samples end in a loop")
    assert sameness(["a", "a"], "texts") == "the 2 texts are one and the same text"
    assert sameness(["a", "b", "a"], "texts") == (
        "the 3 texts are only 2 distinct texts, and no stretch of 16 characters occurs in all 3")


def test_a_stage_without_its_own_validation_shows_the_last_earlier_one_labelled(tmp_path):
    run = Run.__new__(Run)
    run.val = {500: {"loss": 1.5}, 1000: {"loss": 1.25}}
    assert run.validation_at(250) == "none yet"
    assert run.validation_at(500) == "1.500"
    assert run.validation_at(750) == "1.500 (step 500)"


def test_the_longest_repeated_and_shared_stretches():
    from report.part2_text import longest_common, longest_repeat
    assert longest_repeat("abcXabcYabc") == "abc" and longest_repeat("abcd") == ""
    assert longest_common(["the king said hi", "a king said no", "king said"]) == "king said"
    assert sameness(["x the wolf said to him, y", "z the wolf said to him, w"], "texts") == (
        "the 2 texts are different, and both contain the same stretch of 23 characters, "
        "` the wolf said to him, `")


def test_a_loop_with_a_long_period_need_not_be_seen_twice_in_full():
    text = "Xy " + "the wind of the world was gone, and " + "the wind of the world was"
    cycle = find_cycle(text)
    assert cycle is not None and cycle.start == 2 and cycle.period == len("the wind of the world was gone, and ")


def test_the_longest_context_after_which_a_text_went_on_differently():
    from report.part2_samples import context_sentence
    from report.part2_text import diverging_context
    assert diverging_context("abcXabcY") == 3 and diverging_context("abcabcabc") == 0
    assert context_sentence(["abcXabcY"], 30).endswith("its last 4 characters, inside the 30-character training window")


def test_greedy_texts_that_meet_are_said_to_be_one_text_from_there_on():
    from report.part2_samples import converge_sentence
    texts = ["Once the wolf said to him, what a pity", "The king the wolf said to him, what"]
    assert converge_sentence(texts).endswith("kept the greedy texts apart for at most 8 characters")
    assert converge_sentence(["the wolf said to him, what a X", "the wolf said to him, what a Y"]) == ""
