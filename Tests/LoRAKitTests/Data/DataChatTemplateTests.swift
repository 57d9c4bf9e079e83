import Foundation
import XCTest
@testable import LoRAKit

final class DataChatTemplateTests: XCTestCase {
    func testRenderIdsAndMaskMatchTransformers() throws {
        let tok = try TokenizerFixtures.smolLM2()
        let fixture = try TokenizerFixtures.json("chat.json")
        let jinja = try XCTUnwrap(fixture["chat_template"] as? String)
        let template = try ChatTemplate(jinja: jinja)
        XCTAssertEqual(template, .smolLM2)
        let cases = try XCTUnwrap(fixture["conversations"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for c in cases {
            let raw = try XCTUnwrap(c["messages"] as? [[String: String]])
            let messages = raw.map { ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "") }
            let gen = try XCTUnwrap(c["add_generation_prompt"] as? Bool)
            let text = try XCTUnwrap(c["text"] as? String)
            XCTAssertEqual(template.render(messages, addGenerationPrompt: gen), text)
            let ex = template.encode(messages, addGenerationPrompt: gen, tokenizer: tok)
            XCTAssertEqual(ex.ids, try XCTUnwrap(c["ids"] as? [NSNumber]).map(\.int32Value), text.debugDescription)
            XCTAssertEqual(ex.trained, try XCTUnwrap(c["trained"] as? [NSNumber]).map(\.boolValue), text.debugDescription)
        }
    }

    func testMaskCoversAssistantContentAndClosingTagOnly() {
        let tok = ByteTokenizer()
        let msgs = [ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "yo")]
        let ex = ChatTemplate.chatML.encode(msgs, addGenerationPrompt: false, tokenizer: tok)
        let trainedText = tok.decode(zip(ex.ids, ex.trained).filter { $0.1 }.map(\.0))
        XCTAssertEqual(trainedText, "yo<|im_end|>")
        XCTAssertEqual(tok.decode(ex.ids), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n")
        XCTAssertEqual(ex.trainedCount, 3)
    }

    func testSystemMessageSuppressesDefaultAndTemplateErrors() throws {
        let msgs = [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "U")]
        XCTAssertEqual(ChatTemplate.smolLM2.render(msgs, addGenerationPrompt: true),
                       "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertThrowsError(try ChatTemplate(jinja: "{{ bos_token }}{% for m in messages %}[INST]{% endfor %}"))
        let escaped = try ChatTemplate(jinja: "{{ '<|im_start|>system\\nBe brief.<|im_end|>\\n' }}{{ '<|im_start|>' + message['role'] }}")
        XCTAssertEqual(escaped.defaultSystemPrompt, "Be brief.")
        let plain = try ChatTemplate(jinja: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}")
        XCTAssertNil(plain.defaultSystemPrompt)
    }

    /// Gemma's template (make_gemma_chat_fixture.py: the published Jinja through transformers' apply_chat_template) is
    /// recognised and rendered identically; the loss trains the model's content and its `<end_of_turn>` only, and
    /// generation stops on `<end_of_turn>`.
    func testGemmaTemplateRendersAsTransformersAndMasksTheModelTurns() throws {
        let fx = try TokenizerFixtures.json("gemma_chat.json")
        let template = try ChatTemplate(jinja: try XCTUnwrap(fx["template"] as? String))
        XCTAssertEqual(template.format, .gemma)
        XCTAssertEqual(template.endOfTurn, "<end_of_turn>")
        let cases = try XCTUnwrap(fx["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let messages = try XCTUnwrap(c["messages"] as? [[String: String]]).map { ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "") }
            let gen = try XCTUnwrap(c["add_generation_prompt"] as? Bool)
            XCTAssertEqual(template.render(messages, addGenerationPrompt: gen), c["text"] as? String)
        }
        let tok = try BPETokenizer.load(tokenizerJSON: try TokenizerFixtures.url("spm_gemma_tokenizer.json"))
        let messages = [ChatMessage(role: "user", content: "Which lamp?"), ChatMessage(role: "assistant", content: "The north lamp.")]
        let ex = template.encode(messages, addGenerationPrompt: false, tokenizer: tok)
        let trained = zip(ex.ids, ex.trained).filter(\.1).map(\.0)
        XCTAssertEqual(tok.decode(trained), "The north lamp.<end_of_turn>")
        let stop = ModelTokenizer(tokenizer: tok, template: template).stopIDs
        XCTAssertTrue(stop.contains(try XCTUnwrap(tok.specialID("<end_of_turn>"))))
    }

    /// A template loratop cannot render (Mistral's [INST] here) no longer stops the model from loading: plain text
    /// trains, chat records are refused naming the template's file, never rendered as ChatML.
    func testAnUnrenderableTemplateRefusesChatDataOnly() throws {
        let template = ModelTokenizer.template(jinja: "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}",
                                               source: "/models/mistral.gguf")
        XCTAssertEqual(template.format, .unsupported)
        let tok = ByteTokenizer()
        let dir = NSTemporaryDirectory() + "tmpl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = URL(fileURLWithPath: dir + "/t.jsonl"), chat = URL(fileURLWithPath: dir + "/c.jsonl")
        try Data("{\"text\": \"The lamp burned.\"}\n".utf8).write(to: text)
        try Data("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n".utf8).write(to: chat)
        XCTAssertEqual(try Dataset.load(url: text, tokenizer: tok, template: template, maxLength: 64).examples.count, 1)
        XCTAssertThrowsError(try Dataset.load(url: chat, tokenizer: tok, template: template, maxLength: 64)) { e in
            XCTAssertTrue("\(e)".contains("cannot render"), "\(e)")
            XCTAssertTrue("\(e)".contains("/models/mistral.gguf"), "\(e)")
            XCTAssertTrue("\(e)".contains(":1"), "names the line: \(e)")
        }
    }

    /// Llama 3.0–3.3's and Phi-3 / 3.5's published templates (make_llama_phi_chat_fixture.py: through transformers'
    /// apply_chat_template) are recognised and rendered identically: Llama's trimmed turns and 3.1+'s dated system
    /// turn (the template's date, or today's where it calls strftime_now), Phi's turns with its <s>, empty-system and
    /// <|endoftext|> variants.
    func testLlama3AndPhi3TemplatesRenderAsTransformers() throws {
        let fx = try TokenizerFixtures.json("llama_phi_chat.json")
        let jinjas = try XCTUnwrap(fx["templates"] as? [String: String])
        let cases = try XCTUnwrap(fx["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 36)
        for c in cases {
            let name = try XCTUnwrap(c["template"] as? String)
            var template = try ChatTemplate(jinja: try XCTUnwrap(jinjas[name]))
            XCTAssertEqual(template.format, name.hasPrefix("phi") ? .phi3 : .llama3, name)
            switch name {
            case "llama3.0": XCTAssertNil(template.llamaDate)
            case "llama3.2": XCTAssertEqual(template.llamaDate, .today)
            case "llama3.1", "llama3.3": XCTAssertEqual(template.llamaDate, .fixed("26 Jul 2024"), name)
            default: XCTAssertEqual([template.phiBOS, template.phiEmptySystem], name == "phi3-mini" ? [true, true] : [false, false], name)
            }
            if let date = c["date_string"] as? String { template.llamaDate = .fixed(date) }  // the fixture gave date_string
            let messages = try XCTUnwrap(c["messages"] as? [[String: String]]).map { ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "") }
            let gen = try XCTUnwrap(c["add_generation_prompt"] as? Bool)
            XCTAssertEqual(template.render(messages, addGenerationPrompt: gen), c["text"] as? String, "\(name) generation prompt \(gen)")
        }
        // strftime("%d %b %Y") in the local zone: 2026-12-06 12:00 UTC is the 5th, 6th or 7th of December anywhere
        let noon = ChatTemplate.llamaDateString(Date(timeIntervalSince1970: 1_796_558_400))
        XCTAssertTrue(["05 Dec 2026", "06 Dec 2026", "07 Dec 2026"].contains(noon), noon)
        let before = ChatTemplate.llamaDateString(Date())
        let today = try ChatTemplate(jinja: try XCTUnwrap(jinjas["llama3.2"])).render([ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true)
        let after = ChatTemplate.llamaDateString(Date())  // the day may turn between the two
        XCTAssertTrue(today.contains("Today Date: " + before + "\n\n") || today.contains("Today Date: " + after + "\n\n"), today)
    }

    /// Only the assistant's content and its end-of-turn token train (Llama's <|eot_id|> a special token of the tiny Llama
    /// 3 GGUF's vocabulary, Phi's <|end|> in a byte-level one's pieces); generation stops on Llama's.
    func testLlama3AndPhi3MasksAndStops() throws {
        let fx = try TokenizerFixtures.json("llama_phi_chat.json")
        let jinjas = try XCTUnwrap(fx["templates"] as? [String: String])
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Which lamp?"),
                        ChatMessage(role: "assistant", content: "The north lamp.")]
        let llama = try ModelTokenizer.load(for: try loadWeights(path: GGUFFamilyParityTests.dir("llama3") + "/model.gguf")).tokenizer
        let l = try ChatTemplate(jinja: try XCTUnwrap(jinjas["llama3.1"]))
        let ex = l.encode(messages, addGenerationPrompt: false, tokenizer: llama)
        XCTAssertEqual(llama.decode(zip(ex.ids, ex.trained).filter(\.1).map(\.0)), "The north lamp.<|eot_id|>")
        let eot = try XCTUnwrap(llama.specialID("<|eot_id|>"))
        XCTAssertEqual(ex.ids.last, eot)
        XCTAssertEqual(ex.ids.first, llama.specialID("<|begin_of_text|>"))
        XCTAssertTrue(ModelTokenizer(tokenizer: llama, template: l).stopIDs.contains(eot))
        let bytes = try BPETokenizer.load(tokenizerJSON: try TokenizerFixtures.url("llama3_tokenizer.json"))
        let p = try ChatTemplate(jinja: try XCTUnwrap(jinjas["phi3.5"]))
        XCTAssertEqual(p.endOfTurn, "<|end|>")
        let pe = p.encode(messages, addGenerationPrompt: false, tokenizer: bytes)
        // this vocabulary has no <|end|> token: Llama 3's regex keeps punctuation with the newline after it, so the
        // last piece, ending "|>\n", straddles the turn's end and trains (a token trains when it overlaps)
        XCTAssertEqual(bytes.decode(zip(pe.ids, pe.trained).filter(\.1).map(\.0)), "The north lamp.<|end|>\n")
        XCTAssertEqual(bytes.decode(pe.ids), p.render(messages, addGenerationPrompt: false))
    }
}
