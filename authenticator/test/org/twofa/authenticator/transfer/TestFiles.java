package org.twofa.authenticator.transfer;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.twofa.authenticator.vault.Json;

/** The files of authenticator/testdata/import/, written by make_import_files.py. */
final class TestFiles {
    private TestFiles() {}

    static File dir() {
        String root = System.getProperty("twofa.authenticator.testdata", "authenticator/testdata");
        return new File(root, "import");
    }

    static byte[] bytes(String name) throws IOException {
        return Files.readAllBytes(new File(dir(), name).toPath());
    }

    static String text(String name) throws IOException {
        return new String(bytes(name), StandardCharsets.UTF_8);
    }

    static Map<?, ?> expected() throws Exception {
        return (Map<?, ?>) Json.parse(text("expected.json"));
    }

    static List<?> expectedList(String key) throws Exception {
        return (List<?>) expected().get(key);
    }

    static String password(String file) throws Exception {
        return (String) ((Map<?, ?>) expected().get("passwords")).get(file);
    }
}
