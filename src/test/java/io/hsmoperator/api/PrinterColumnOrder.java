package io.hsmoperator.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The CRD generator sorts additionalPrinterColumns by jsonPath (Age first); kubectl shows them in the CRD's order. This
 * puts them in the order the kind's class declares its {@code @AdditionalPrinterColumn}s (Ready first, Age last), on the
 * generated text, so crds/ stays byte-for-byte what the build makes plus this one step. Runs as
 * {@code java src/test/java/io/hsmoperator/api/PrinterColumnOrder.java <generated dir> <crds dir>} (bin/update-crds) and
 * from CrdsUpToDateIT; it needs only the JDK.
 */
public final class PrinterColumnOrder {
    private static final Path API_SOURCES = Path.of("src", "main", "java", "io", "hsmoperator", "api");
    private static final Pattern DECLARED = Pattern.compile("@AdditionalPrinterColumn\\(name = \"([^\"]+)\"");
    private static final Pattern KIND = Pattern.compile("(?m)^\\s+kind: \"([A-Za-z]+)\"$");

    private PrinterColumnOrder() {
    }

    public static void main(String[] args) throws IOException {
        Path from = Path.of(args[0]);
        Path to = Path.of(args[1]);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.filter(p -> p.getFileName().toString().endsWith(".hsmoperator.io-v1.yml")).sorted().toList()) {
                Files.writeString(to.resolve(f.getFileName()), reorder(Files.readString(f)));
            }
        }
    }

    /** The CRD text with its printer columns in declaration order. */
    public static String reorder(String crd) {
        Matcher kind = KIND.matcher(crd);
        if (!kind.find()) {
            throw new IllegalArgumentException("no kind in the CRD");
        }
        List<String> order = declared(kind.group(1));
        List<String> lines = new ArrayList<>(List.of(crd.split("\n", -1)));
        int start = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).trim().replaceFirst("^- ", "").equals("additionalPrinterColumns:")) {
                start = i + 1;
                break;
            }
        }
        if (start < 0) {
            return crd;
        }
        String indent = lines.get(start).substring(0, lines.get(start).indexOf('-'));
        List<List<String>> entries = new ArrayList<>();
        int end = start;
        while (end < lines.size() && (lines.get(end).startsWith(indent + "- ") || lines.get(end).startsWith(indent + "  "))) {
            if (lines.get(end).startsWith(indent + "- ")) {
                entries.add(new ArrayList<>());
            }
            entries.get(entries.size() - 1).add(lines.get(end));
            end++;
        }
        entries.sort(Comparator.comparingInt(e -> {
            int at = order.indexOf(name(e));
            if (at < 0) {
                throw new IllegalStateException("printer column " + name(e) + " of " + kind.group(1) + " is not declared in its class");
            }
            return at;
        }));
        List<String> out = new ArrayList<>(lines.subList(0, start));
        entries.forEach(out::addAll);
        out.addAll(lines.subList(end, lines.size()));
        return String.join("\n", out);
    }

    private static String name(List<String> entry) {
        for (String l : entry) {
            String t = l.trim().startsWith("- ") ? l.trim().substring(2) : l.trim();
            if (t.startsWith("name: ")) {
                return t.substring("name: ".length()).replace("\"", "");
            }
        }
        throw new IllegalStateException("a printer column without a name: " + entry);
    }

    /** The printer column names in the order the kind's class declares them. */
    static List<String> declared(String kind) {
        try (Stream<Path> files = Files.walk(API_SOURCES)) {
            Path source = files.filter(p -> p.getFileName().toString().equals(kind + ".java")).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no source for " + kind + " under " + API_SOURCES));
            List<String> names = new ArrayList<>();
            Matcher m = DECLARED.matcher(Files.readString(source));
            while (m.find()) {
                names.add(m.group(1));
            }
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
