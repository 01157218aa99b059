package io.hsmoperator.reconciler;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.inject.Singleton;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which resource owns an Azure object: a tag {@value #TAG} = {cluster}/{namespace}/{name}/{uid}, naming its owner exactly.
 * One writer per object, across namespaces and clusters. An object whose owner still exists is never taken over. An
 * object another namespace made is never adopted, recovered, changed or deleted from this one, whether its owner lives
 * or not; only the HSM's own namespace may reclaim what is left in its HSM. An object nobody tagged (made in the portal,
 * by Terraform) is adopted only from the HSM's own namespace, and only when the spec says so.
 */
@Singleton
public class Ownership {
    public static final String TAG = "hsmoperator.io-owner";

    private final String cluster;
    private final KubernetesClient kubernetes;

    public Ownership(OperatorInstance instance, KubernetesClient kubernetes) {
        this.cluster = instance.clusterId();
        this.kubernetes = kubernetes;
    }

    /** The owner a tag names; empty for a tag this operator did not write in either of its formats. */
    public record Owner(String cluster, String namespace, String name, String uid) {
        static Optional<Owner> parse(String tag) {
            String[] p = tag == null ? new String[0] : tag.split("/", -1);
            for (String part : p) {
                if (part.isEmpty()) {
                    return Optional.empty();
                }
            }
            // Three parts: written before the tag carried the owner's UID.
            return p.length == 4 ? Optional.of(new Owner(p[0], p[1], p[2], p[3]))
                    : p.length == 3 ? Optional.of(new Owner(p[0], p[1], p[2], null)) : Optional.empty();
        }

        @Override
        public String toString() {
            return cluster + "/" + namespace + "/" + name;
        }
    }

    /** What a resource may do with an Azure object, given the object's ownership tag. */
    public sealed interface Verdict {
        /** This resource made it (or adopted it earlier). */
        record Ours() implements Verdict {
        }

        /** This resource may take it over now; {@code warning} when it is a reclaim by the HSM's namespace. */
        record Adopt(String why, boolean warning) implements Verdict {
        }

        /** Someone else's: why, in words a user can act on; {@code adoptable} when asking to adopt would settle it. */
        record Conflict(String why, boolean adoptable) implements Verdict {
        }
    }

    public String tag(HasMetadata resource) {
        return cluster + "/" + resource.getMetadata().getNamespace() + "/" + resource.getMetadata().getName() + "/"
                + resource.getMetadata().getUid();
    }

    /**
     * The owner as an object without tags carries it (a role definition, in its description): cluster/namespace/name,
     * without the UID, so that a re-created resource of the same name finds its own object.
     */
    public String nameTag(HasMetadata resource) {
        return cluster + "/" + resource.getMetadata().getNamespace() + "/" + resource.getMetadata().getName();
    }

    /**
     * A name (a GUID) for the Azure object {@code purpose} of a resource, derived from its cluster, namespace and name:
     * the same on every retry and for a re-created resource, different for every other owner.
     */
    public String derivedName(String purpose, HasMetadata resource) {
        return java.util.UUID.nameUUIDFromBytes(("hsmoperator.io/" + purpose + "/" + nameTag(resource))
                .getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString();
    }

    private static final java.util.regex.Pattern MARK = java.util.regex.Pattern.compile("\\[" + TAG + ": ([^\\]\\s]+)]$");

    /** A description with the ownership mark of {@code owner} at its end (objects without tags carry their owner so). */
    public static String marked(String description, String owner) {
        String d = description == null ? "" : description.strip();
        return (d.isEmpty() ? "" : d + " ") + "[" + TAG + ": " + owner + "]";
    }

    /** The owner a description's ownership mark names; null when it carries none. */
    public static String markOf(String description) {
        java.util.regex.Matcher m = MARK.matcher(description == null ? "" : description.strip());
        return m.find() ? m.group(1) : null;
    }

    /** Whether a tag names an owner of this cluster in {@code resource}'s namespace. */
    public boolean inNamespaceOf(String tagged, HasMetadata resource) {
        Optional<Owner> o = Owner.parse(tagged);
        return o.isPresent() && o.get().cluster().equals(cluster) && o.get().namespace().equals(resource.getMetadata().getNamespace());
    }

    /** Whether a tag names this resource: exactly, or in the earlier format without UID, by this cluster, namespace and name. */
    public boolean isOf(String tagged, HasMetadata resource) {
        if (tag(resource).equals(tagged)) {
            return true;
        }
        Optional<Owner> o = Owner.parse(tagged);
        return o.isPresent() && o.get().uid() == null && o.get().cluster().equals(cluster)
                && o.get().namespace().equals(resource.getMetadata().getNamespace()) && o.get().name().equals(resource.getMetadata().getName());
    }

    /**
     * Decides whether {@code claimant} may manage an object tagged {@code tagged} in an HSM declared in namespace
     * {@code hsmNamespace}, when its spec does ({@code adopt}) or does not ask to adopt.
     */
    public Verdict judge(String tagged, HasMetadata claimant, Class<? extends HasMetadata> kind, String hsmNamespace, boolean adopt) {
        if (isOf(tagged, claimant)) {
            return new Verdict.Ours();
        }
        String ns = claimant.getMetadata().getNamespace();
        boolean hsmsOwn = ns.equals(hsmNamespace);
        if (tagged == null) {
            if (!hsmsOwn) {
                return new Verdict.Conflict("it carries no owner (made outside this operator), and such an object is adopted only from "
                        + "the HSM's own namespace " + hsmNamespace + ".", false);
            }
            return adopt ? new Verdict.Adopt("which had no owner", false)
                    : new Verdict.Conflict("it was not made by this resource. Set spec.adoptExisting: true to manage it from here.", true);
        }
        Optional<Owner> owner = Owner.parse(tagged);
        if (owner.isEmpty() || alive(owner.get(), kind)) {
            return new Verdict.Conflict("it belongs to " + owner.map(Owner::toString).orElse(tagged) + (owner.isPresent()
                    && !owner.get().cluster().equals(cluster) ? ", managed from another cluster" : ", which still exists")
                    + ". Only its owner manages it: adoptExisting does not take it over.", false);
        }
        boolean sameNamespace = owner.get().namespace().equals(ns);
        if (!sameNamespace && !hsmsOwn) {
            return new Verdict.Conflict("it was made by namespace " + owner.get().namespace() + " (" + owner.get() + ", no longer there). "
                    + "An object another namespace made is never taken over from this one; only the HSM's own namespace "
                    + hsmNamespace + " may reclaim it.", false);
        }
        if (!adopt) {
            return new Verdict.Conflict("it belongs to " + owner.get() + ", which no longer exists. Set spec.adoptExisting: true to "
                    + "manage it from here.", true);
        }
        return new Verdict.Adopt("whose owner " + owner.get() + " no longer exists", !sameNamespace);
    }

    /**
     * Whether the owner still exists, read from the API server (not a cache): the resource of that namespace and name with
     * that UID. Another cluster's resources cannot be checked from here and count as alive.
     */
    private boolean alive(Owner owner, Class<? extends HasMetadata> kind) {
        if (!owner.cluster().equals(cluster)) {
            return true;
        }
        HasMetadata found = kubernetes.resources(kind).inNamespace(owner.namespace()).withName(owner.name()).get();
        return found != null && (owner.uid() == null || owner.uid().equals(found.getMetadata().getUid()));
    }

    /**
     * The tags an Azure object should carry: what it has, less the tags the operator wrote before that the spec no longer
     * lists, plus the spec's tags and the ownership tag. Tags others added (Azure Policy, people) are left alone.
     */
    public static Map<String, String> tags(Map<String, String> current, Map<String, String> spec, String owner, List<String> managedBefore) {
        Map<String, String> out = new LinkedHashMap<>(current);
        if (managedBefore != null) {
            managedBefore.stream().filter(k -> !spec.containsKey(k) && !k.equals(TAG)).forEach(out::remove);
        }
        out.putAll(spec);
        out.put(TAG, owner);
        return out;
    }

    /** The tag keys the operator writes for a spec: recorded in status once Azure holds them. */
    public static List<String> managedKeys(Map<String, String> spec) {
        java.util.TreeSet<String> keys = new java.util.TreeSet<>(spec.keySet());
        keys.add(TAG);
        return List.copyOf(keys);
    }
}
