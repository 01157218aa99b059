package io.hsmoperator.api.common;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** The last update the operator sent to correct drift: what lets it tell a stale read from a value Azure will not keep. */
public class LastUpdate {
    @JsonPropertyDescription("The properties the update changed.")
    public String fields;

    @JsonPropertyDescription("Azure's last-modified time of the object when the update was sent: a read that still shows it predates "
            + "the update (Azure's reads lag its writes), so the operator waits instead of sending it again.")
    public String modifiedBefore;

    @JsonPropertyDescription("When the update was sent (RFC 3339).")
    public String sentAt;

    @JsonPropertyDescription("Updates of these properties sent in a row for this generation of the spec.")
    public Integer attempts;

    @JsonPropertyDescription("Generation of the spec the update applied.")
    public Long generation;
}
